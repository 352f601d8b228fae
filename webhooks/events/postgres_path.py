"""PostgreSQL, no idempotency key: an event checked and stored in three statements, in autocommit.

This runs once per event received, so it skips SQLAlchemy's execution (webhooks/driver.py):
half the Python per event. No transaction is needed: the two reads decide what the one write
stores, and the write is atomic on its own.
"""

from sqlalchemy import Engine, LargeBinary, String, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from webhooks.db import is_unavailable
from webhooks.driver import DriverStatement, lent
from webhooks.events.catalogue import SCHEMA_OF, check_entry
from webhooks.events.fanout import (
    ONE_SUBSCRIBER,
    SUBSCRIBERS,
    Incoming,
    Published,
    StoredEvent,
    encode_payload,
    new_deliveries,
)
from webhooks.ids import new_id
from webhooks.models import PENDING, UTCDateTime

# The event and all its deliveries in one statement, so one round trip and no BEGIN or
# COMMIT of their own (a statement is atomic). The deliveries come as two arrays (ids,
# endpoint ids): one parameter each however many endpoints subscribe. The foreign key from
# deliveries to the event is checked at the statement's end, when the event is there.
STORE = text(
    """
    WITH event AS (
        INSERT INTO events (id, tenant, type, payload, created_at)
        VALUES (:event_id, :tenant, :type, :payload, :now)
    )
    INSERT INTO deliveries (id, tenant, event_id, endpoint_id, status, attempt_count,
                            run_start, next_attempt_at, queued_until, created_at, updated_at)
    SELECT d.id, :tenant, :event_id, d.endpoint_id, :pending, 0, 0, :now, :now, :now, :now
    FROM unnest(:ids, :endpoint_ids) AS d(id, endpoint_id)
    """
).bindparams(
    bindparam("payload", type_=LargeBinary()),
    bindparam("now", type_=UTCDateTime()),
    bindparam("ids", type_=ARRAY(String())),
    bindparam("endpoint_ids", type_=ARRAY(String())),
)


class PostgresPath:
    """The three statements, compiled once for one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.schema_of = DriverStatement(engine, SCHEMA_OF)
        self.subscribers = DriverStatement(engine, SUBSCRIBERS)
        self.one_subscriber = DriverStatement(engine, ONE_SUBSCRIBER)
        self.store = DriverStatement(engine, STORE)

    def publish(self, event: Incoming) -> Published:
        """Check the event against the catalogue, read its subscribers, store it all at once."""
        try:
            return self._publish(event)
        except DBAPIError as exc:
            # The API's pool does not ping each connection before use (a round trip per
            # event): one that died with a database restart fails a read, having written
            # nothing, and the pool is renewed. Once more on a fresh connection; never after
            # the write, which may have happened.
            if not is_unavailable(exc) or exc.statement == self.store.sql:
                raise
            return self._publish(event)

    def _publish(self, event: Incoming) -> Published:
        values = {"name": event.type, "tenant": event.tenant, "endpoint_id": event.endpoint_id}
        subscribers = self.subscribers if event.endpoint_id is None else self.one_subscriber
        with lent(self.engine) as pooled:
            entry = self.schema_of.one_or_none(values, on=pooled)
            check_entry(entry, event.type, event.data, require_known=event.require_known)
            created = new_deliveries(subscribers.all(values, on=pooled), event.type)
            stored = StoredEvent(new_id("evt"), event.type, event.tenant, event.now)
            self.store.execute(
                {
                    "event_id": stored.id,
                    "tenant": event.tenant,
                    "type": event.type,
                    "payload": encode_payload(event.type, event.now, event.data),
                    "now": event.now,
                    "pending": PENDING,
                    "ids": [d.id for d in created],
                    "endpoint_ids": [d.endpoint_id for d in created],
                },
                on=pooled,
            )
        return Published(stored, created)
