"""Publishing an event: through the driver on PostgreSQL, in one transaction elsewhere."""

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from webhooks.events.fanout import Incoming, Published, publish
from webhooks.events.postgres_path import PostgresPath


class EventPublisher:
    """Checks and stores events on one engine, with its statements compiled once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = PostgresPath(engine) if engine.dialect.name == "postgresql" else None

    def publish(
        self,
        *,
        tenant: str,
        event_type: str,
        data: dict[str, Any],
        now: datetime,
        require_known: bool,
        idempotency_key: str | None = None,
        endpoint_id: str | None = None,
    ) -> Published:
        """Check the event against the catalogue, then store it and its deliveries atomically.

        Returns the earlier event instead when the idempotency key matches one.
        `require_known` refuses a type the catalogue does not list; with `endpoint_id` (a
        test event) only that endpoint of the tenant may receive it.
        """
        event = Incoming(tenant, event_type, data, now, require_known, endpoint_id)
        if idempotency_key is None and self.postgres is not None:
            return self.postgres.publish(event)
        return publish(self.engine, event, idempotency_key)
