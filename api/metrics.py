"""GET /metrics: the backlog and the endpoints' state, in Prometheus text format."""

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks.models import PENDING, Delivery, Endpoint

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(session: Session, now: datetime) -> str:
    """Read the gauges from SQL (the source of truth) and format them."""
    pending = Delivery.status == PENDING
    # Each of these is answered from the partial index of pending deliveries.
    waiting = session.scalar(select(func.count()).where(pending)) or 0
    due, oldest = session.execute(
        select(func.count(), func.min(Delivery.next_attempt_at)).where(
            pending, Delivery.next_attempt_at <= now
        )
    ).one()
    in_flight = session.scalar(
        select(func.count()).where(pending, Delivery.lease_expires_at.is_not(None))
    )
    endpoints: dict[bool, int] = {
        enabled: number
        for enabled, number in session.execute(
            select(Endpoint.enabled, func.count())
            .where(Endpoint.deleted_at.is_(None))
            .group_by(Endpoint.enabled)
        )
    }
    lines = [
        *_gauge("webhooks_deliveries_pending", "Deliveries not yet finished.", waiting),
        *_gauge("webhooks_deliveries_due", "Pending deliveries whose time has come.", due),
        *_gauge("webhooks_deliveries_in_flight", "Deliveries a worker holds now.", in_flight),
        *_gauge(
            "webhooks_oldest_due_seconds",
            "How long the longest-waiting due delivery has waited.",
            (now - oldest).total_seconds() if oldest is not None else 0,
        ),
        "# HELP webhooks_endpoints Endpoints by state.",
        "# TYPE webhooks_endpoints gauge",
        f'webhooks_endpoints{{state="enabled"}} {endpoints.get(True, 0)}',
        f'webhooks_endpoints{{state="disabled"}} {endpoints.get(False, 0)}',
    ]
    return "\n".join(lines) + "\n"


def _gauge(name: str, help_text: str, value: float | None) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {value or 0}"]
