"""Endpoints and events stored through the core, as the API stores them, without queueing them."""

from datetime import timedelta

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from webhooks.config import Settings
from webhooks.endpoints import EndpointFields, Registry, create_endpoint
from webhooks.events.publisher import EventPublisher
from webhooks.models import deliveries_table
from webhooks.security.guard import NetworkGuard
from webhooks.security.sealing import Keyring
from webhooks.security.urls import UrlPolicy
from webhooks.times import utcnow

TENANT = "default"
EVENT_TYPE = "bench.event"


def endpoints(engine: Engine, settings: Settings, url: str, count: int) -> list[str]:
    """Create `count` endpoints for `url` (each with its own path); return their ids.

    Sealed with the keys in `settings`, those the benchmark's processes run with.
    """
    guard = NetworkGuard(settings.allow_networks)
    registry = Registry(UrlPolicy.from_settings(settings, guard), Keyring.from_settings(settings))
    with Session(engine) as session, session.begin():
        created = [
            create_endpoint(session, registry, EndpointFields(url=f"{url}/{n}"), utcnow())
            for n in range(count)
        ]
        return [endpoint.id for endpoint in created]


def events(engine: Engine, count: int) -> list[str]:
    """Store `count` events, each fanned out to every endpoint; return the delivery ids."""
    ids = []
    publisher = EventPublisher(engine)
    for n in range(count):
        stored = publisher.publish(
            tenant=TENANT,
            event_type=EVENT_TYPE,
            data={"n": n},
            now=utcnow(),
            require_known=False,
        )
        ids += [d.id for d in stored.deliveries]
    return ids


def park(engine: Engine, delivery_ids: list[str], wait: timedelta) -> None:
    """Make deliveries wait `wait` for their next attempt, held by nobody: parked in SQL."""
    for start in range(0, len(delivery_ids), 5000):
        with engine.begin() as conn:
            conn.execute(
                update(deliveries_table)
                .where(deliveries_table.c.id.in_(delivery_ids[start : start + 5000]))
                .values(attempt_count=1, next_attempt_at=utcnow() + wait, queued_until=None)
            )
