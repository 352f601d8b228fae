"""The lists the API and the console show: their filters, and keyset pages, newest first."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from webhooks.ids import id_at
from webhooks.models import Attempt, Delivery, Endpoint, Event


@dataclass(frozen=True)
class EndpointFilter:
    """Which endpoints a list shows; None means any."""

    tenant: str | None = None
    enabled: bool | None = None
    failing: bool | None = None  # a failure streak under way


@dataclass(frozen=True)
class EventFilter:
    """Which events a list shows; times bound when they were received."""

    tenant: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class DeliveryFilter:
    """Which deliveries a list shows."""

    tenant: str | None = None
    endpoint_id: str | None = None
    event_id: str | None = None
    status: str | None = None


def paginate(
    session: Session,
    query: Select[Any],
    id_column: InstrumentedAttribute[str],
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[Any], str | None]:
    """Return one page, newest first, and the cursor of the next one (ids sort by time)."""
    if cursor is not None:
        query = query.where(id_column < cursor)
    rows = session.scalars(query.order_by(id_column.desc()).limit(limit + 1)).all()
    if len(rows) > limit:
        return rows[:limit], rows[limit - 1].id
    return rows, None


def endpoints_query(where: EndpointFilter) -> Select[Endpoint]:
    """The endpoints that pass `where` (deleted ones never do)."""
    query = select(Endpoint).where(Endpoint.deleted_at.is_(None))
    if where.tenant is not None:
        query = query.where(Endpoint.tenant == where.tenant)
    if where.enabled is not None:
        query = query.where(Endpoint.enabled == where.enabled)
    if where.failing is not None:
        streak = Endpoint.failure_count > 0
        query = query.where(streak if where.failing else ~streak)
    return query


def events_query(where: EventFilter) -> Select[Event]:
    """The events that pass `where`; time bounds become id bounds, which the indexes serve."""
    query = select(Event)
    if where.tenant is not None:
        query = query.where(Event.tenant == where.tenant)
    if where.type is not None:
        query = query.where(Event.type == where.type)
    if where.since is not None:
        query = query.where(Event.id >= id_at("evt", where.since))
    if where.until is not None:
        query = query.where(Event.id < id_at("evt", where.until))
    return query


def deliveries_query(where: DeliveryFilter) -> Select[Delivery]:
    """The deliveries that pass `where`."""
    query = select(Delivery)
    if where.tenant is not None:
        query = query.where(Delivery.tenant == where.tenant)
    if where.endpoint_id is not None:
        query = query.where(Delivery.endpoint_id == where.endpoint_id)
    if where.event_id is not None:
        query = query.where(Delivery.event_id == where.event_id)
    if where.status is not None:
        query = query.where(Delivery.status == where.status)
    return query


def event_deliveries(session: Session, event_id: str) -> Sequence[Delivery]:
    """Every delivery of an event, in the order they were made."""
    return session.scalars(
        select(Delivery).where(Delivery.event_id == event_id).order_by(Delivery.id)
    ).all()


def delivery_attempts(session: Session, delivery_id: str) -> Sequence[Attempt]:
    """Every attempt of a delivery, oldest first."""
    return session.scalars(
        select(Attempt).where(Attempt.delivery_id == delivery_id).order_by(Attempt.number)
    ).all()
