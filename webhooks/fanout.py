"""Event in, deliveries out: store an event and one delivery per matching endpoint, atomically."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from webhooks.errors import Conflict
from webhooks.ids import new_id
from webhooks.matching import matches
from webhooks.models import PENDING, Delivery, Endpoint, Event
from webhooks.times import rfc3339

IDEMPOTENCY_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class Published:
    """The stored event and its deliveries; `replayed` when an idempotency key matched."""

    event: Event
    deliveries: list[Delivery]
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
    sessions: sessionmaker[Session],
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
        with sessions.begin() as session:
            return _publish(session, tenant, event_type, data, now, idempotency_key, fingerprint)
    except IntegrityError:
        if idempotency_key is None:
            raise
        # Two requests raced with one key: the other committed first, so answer as it did.
        with sessions.begin() as session:
            return _publish(session, tenant, event_type, data, now, idempotency_key, fingerprint)


def _publish(
    session: Session,
    tenant: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> Published:
    if idempotency_key is not None:
        earlier = session.scalars(
            select(Event).where(Event.tenant == tenant, Event.idempotency_key == idempotency_key)
        ).one_or_none()
        if earlier is not None and earlier.created_at > now - IDEMPOTENCY_WINDOW:
            if earlier.request_hash != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used with a different request body"
                )
            # In the first response's order (by endpoint): ids made within one millisecond
            # need not sort in the order they were made.
            found = session.scalars(
                select(Delivery)
                .where(Delivery.event_id == earlier.id)
                .order_by(Delivery.endpoint_id)
            ).all()
            return Published(earlier, list(found), replayed=True)
        if earlier is not None:
            # Past the window the key is free again; the old event keeps its history.
            session.execute(
                update(Event).where(Event.id == earlier.id).values(idempotency_key=None)
            )
    event = Event(
        id=new_id("evt"),
        tenant=tenant,
        type=event_type,
        payload=encode_payload(event_type, now, data),
        idempotency_key=idempotency_key,
        request_hash=fingerprint,
        created_at=now,
    )
    session.add(event)
    subscribers = session.execute(
        select(Endpoint.id, Endpoint.event_types)
        .where(Endpoint.tenant == tenant, Endpoint.enabled, Endpoint.deleted_at.is_(None))
        .order_by(Endpoint.id)
    ).all()
    created = [
        Delivery(
            id=new_id("dlv"),
            tenant=tenant,
            event_id=event.id,
            endpoint_id=endpoint.id,
            status=PENDING,
            attempt_count=0,
            run_start=0,
            next_attempt_at=now,
            # Marked as queued now: the caller enqueues right after commit, and if that
            # fails the scheduler takes these over once the mark is stale.
            queued_until=now,
            created_at=now,
            updated_at=now,
        )
        for endpoint in subscribers
        if matches(endpoint.event_types, event_type)
    ]
    session.add_all(created)
    session.flush()
    return Published(event, created)
