"""Event in, deliveries out: store an event and one delivery per matching endpoint, atomically."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from webhooks.errors import Conflict
from webhooks.events.matching import matches
from webhooks.ids import new_id
from webhooks.models import PENDING
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints
from webhooks.models import events_table as events
from webhooks.times import rfc3339

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class StoredEvent:
    """What the response tells about a stored event."""

    id: str
    type: str
    tenant: str
    created_at: datetime


@dataclass(frozen=True)
class StoredDelivery:
    """A delivery created for an event."""

    id: str
    endpoint_id: str


@dataclass(frozen=True)
class Published:
    """The stored event and its deliveries; `replayed` when an idempotency key matched."""

    event: StoredEvent
    deliveries: list[StoredDelivery]
    replayed: bool = False


def encode_payload(event_type: str, created_at: datetime, data: dict[str, Any]) -> bytes:
    """Serialise the body every attempt sends, once, so every signature covers the same bytes."""
    body = {"type": event_type, "timestamp": rfc3339(created_at), "data": data}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def request_hash(event_type: str, tenant: str, data: dict[str, Any]) -> str:
    """Fingerprint a request so a reused idempotency key can be told from a replay."""
    canonical = json.dumps([event_type, tenant, data], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def publish(
    engine: Engine,
    *,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    idempotency_key: str | None = None,
) -> Published:
    """Store the event and its deliveries in one transaction, or return the earlier one."""
    fingerprint = request_hash(event_type, tenant, data) if idempotency_key else None
    try:
        with engine.begin() as conn:
            return _publish(conn, tenant, event_type, data, now, idempotency_key, fingerprint)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Two requests raced with one key: the other committed first, so answer as it did.
        with engine.begin() as conn:
            return _publish(conn, tenant, event_type, data, now, idempotency_key, fingerprint)


def _publish(
    conn: Connection,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> Published:
    # Core statements, not the ORM's unit of work: this runs once per event received.
    if idempotency_key is not None:
        earlier = conn.execute(
            select(events.c.id, events.c.type, events.c.created_at, events.c.request_hash).where(
                events.c.tenant == tenant, events.c.idempotency_key == idempotency_key
            )
        ).one_or_none()
        if earlier is not None and earlier.created_at > now - IDEMPOTENCY_WINDOW:
            if earlier.request_hash != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used with a different request body"
                )
            found = conn.execute(
                select(deliveries.c.id, deliveries.c.endpoint_id)
                .where(deliveries.c.event_id == earlier.id)
                .order_by(deliveries.c.endpoint_id)  # the first response's order
            )
            stored = StoredEvent(earlier.id, earlier.type, tenant, earlier.created_at)
            return Published(stored, [StoredDelivery(*row) for row in found], replayed=True)
        if earlier is not None:
            # Past the window the key is free again; the old event keeps its history.
            conn.execute(
                update(events).where(events.c.id == earlier.id).values(idempotency_key=None)
            )
    return store_event(
        conn,
        tenant,
        event_type,
        data,
        now,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def store_event(
    conn: Connection,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    *,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    queued: bool = True,
) -> Published:
    """Insert an event and its deliveries within the caller's transaction.

    `queued`: the caller enqueues the deliveries right after commit; otherwise they are
    left due for the scheduler's next pass.
    """
    event = StoredEvent(new_id("evt"), event_type, tenant, now)
    conn.execute(
        insert(events).values(
            id=event.id,
            tenant=tenant,
            type=event_type,
            payload=encode_payload(event_type, now, data),
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            created_at=now,
        )
    )
    subscribers = conn.execute(
        select(endpoints.c.id, endpoints.c.event_types)
        .where(endpoints.c.tenant == tenant, endpoints.c.enabled, endpoints.c.deleted_at.is_(None))
        .order_by(endpoints.c.id)
    )
    created = [
        StoredDelivery(new_id("dlv"), endpoint.id)
        for endpoint in subscribers
        if matches(endpoint.event_types, event_type)
    ]
    if created:
        conn.execute(
            insert(deliveries),
            [
                {
                    "id": delivery.id,
                    "tenant": tenant,
                    "event_id": event.id,
                    "endpoint_id": delivery.endpoint_id,
                    "status": PENDING,
                    "attempt_count": 0,
                    "run_start": 0,
                    "next_attempt_at": now,
                    # Marked as queued now: the caller enqueues right after commit, and if
                    # that fails the scheduler takes these over once the mark is stale.
                    "queued_until": now if queued else None,
                    "created_at": now,
                    "updated_at": now,
                }
                for delivery in created
            ],
        )
    return Published(event, created)
