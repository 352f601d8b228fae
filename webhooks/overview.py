"""The last day at a glance: deliveries by hour, attempts per minute, failing endpoints."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Integer, cast, func, or_, select
from sqlalchemy.orm import Mapped, Session

from webhooks.ids import id_at
from webhooks.models import DELIVERY_STATUSES, Attempt, Delivery, Endpoint

HOURS = 24
MINUTES = 30


def deliveries_by_hour(
    session: Session, now: datetime, tenant: str | None = None
) -> list[dict[str, int]]:
    """For each of the last 24 hours, oldest first, the deliveries made then by current status."""
    start = _hour_floor(now) - timedelta(hours=HOURS - 1)
    # Ids sort by creation time: the bound on the id is served by the primary key (or the
    # tenant's index) where a bound on created_at would need an index of its own.
    hour = (_epoch_seconds(session, Delivery.created_at) // 3600).label("hour")
    query = (
        select(hour, Delivery.status, func.count())
        .where(Delivery.id >= id_at("dlv", start))
        .group_by(hour, Delivery.status)
    )
    if tenant is not None:
        query = query.where(Delivery.tenant == tenant)
    hours = [dict.fromkeys(DELIVERY_STATUSES, 0) for _ in range(HOURS)]
    first = int(start.timestamp()) // 3600
    for number_of_hour, status, number in session.execute(query):
        index = int(number_of_hour) - first
        if 0 <= index < HOURS:
            hours[index][status] += number
    return hours


def attempts_by_minute(session: Session, now: datetime, tenant: str | None = None) -> list[int]:
    """Attempts recorded in each of the last 30 minutes, oldest first."""
    start = _minute_floor(now) - timedelta(minutes=MINUTES - 1)
    minute = (_epoch_seconds(session, Attempt.started_at) // 60).label("minute")
    query = select(minute, func.count()).where(Attempt.id >= id_at("att", start)).group_by(minute)
    if tenant is not None:
        # Each attempt's delivery by primary key: as many lookups as attempts in 30 minutes,
        # where a join read the tenant's every delivery (the planner hashed them all).
        owner = select(Delivery.tenant).where(Delivery.id == Attempt.delivery_id)
        query = query.where(owner.scalar_subquery() == tenant)
    minutes = [0] * MINUTES
    first = int(start.timestamp()) // 60
    for number_of_minute, number in session.execute(query):
        index = int(number_of_minute) - first
        if 0 <= index < MINUTES:
            minutes[index] += number
    return minutes


def troubled_endpoints(
    session: Session, tenant: str | None = None, limit: int = 20
) -> Sequence[Endpoint]:
    """Endpoints that are disabled or in a failure streak, the longest-failing first."""
    query = select(Endpoint).where(
        Endpoint.deleted_at.is_(None),
        or_(Endpoint.enabled.is_(False), Endpoint.failure_count > 0),
    )
    if tenant is not None:
        query = query.where(Endpoint.tenant == tenant)
    order = (Endpoint.enabled, Endpoint.failing_since.is_(None), Endpoint.failing_since)
    return session.scalars(query.order_by(*order).limit(limit)).all()


def _epoch_seconds(session: Session, column: Mapped[datetime]) -> ColumnElement[int]:
    """Unix seconds of a time column, in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), Integer)
    # SQLite keeps UTC times as text: strftime('%s') reads them.
    return cast(func.strftime("%s", column), Integer)


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _minute_floor(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
