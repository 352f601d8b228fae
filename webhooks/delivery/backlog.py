"""The backlog: what waits to be delivered, what is due, in flight or held, the longest wait."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks.models import PENDING, Delivery, Endpoint


@dataclass(frozen=True)
class Backlog:
    """Pending deliveries, those due now, those a worker holds, and the oldest due time."""

    pending: int
    due: int
    in_flight: int
    oldest_due: datetime | None
    held: int = 0  # waiting behind their endpoint's rate limit or cap

    def oldest_wait_seconds(self, now: datetime) -> float:
        """How long the longest-waiting due delivery has waited."""
        return (now - self.oldest_due).total_seconds() if self.oldest_due is not None else 0.0


def backlog(session: Session, now: datetime, tenant: str | None = None) -> Backlog:
    """Measure the backlog, of one tenant or of all."""
    pending = Delivery.status == PENDING
    scope = [pending] if tenant is None else [pending, Delivery.tenant == tenant]
    # Each of these is answered from the partial indexes on pending, leased and held rows.
    waiting = session.scalar(select(func.count()).where(*scope)) or 0
    due, oldest = session.execute(
        select(func.count(), func.min(Delivery.next_attempt_at)).where(
            *scope, Delivery.next_attempt_at <= now
        )
    ).one()
    in_flight = session.scalar(
        select(func.count()).where(*scope, Delivery.lease_expires_at.is_not(None))
    )
    held = session.scalar(select(func.count()).where(*scope, Delivery.held))
    return Backlog(waiting, due or 0, in_flight or 0, oldest, held or 0)


def endpoints_by_state(session: Session, tenant: str | None = None) -> dict[bool, int]:
    """How many endpoints are enabled (True) and disabled (False)."""
    query = (
        select(Endpoint.enabled, func.count())
        .where(Endpoint.deleted_at.is_(None))
        .group_by(Endpoint.enabled)
    )
    if tenant is not None:
        query = query.where(Endpoint.tenant == tenant)
    counts = {True: 0, False: 0}
    for enabled, number in session.execute(query):
        counts[bool(enabled)] = number
    return counts
