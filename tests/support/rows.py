"""Rows written and read behind the API, for tests of the core."""

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Row, Table, insert, select

from tests.conftest import ENCRYPTION_KEY
from webhooks.ids import new_id
from webhooks.models import PENDING, attempts_table, deliveries_table, endpoints_table, events_table
from webhooks.security.sealing import Keyring

URL = "https://hooks.example.com/in"
SECRET = "whsec_" + "A" * 32
TENANT = "acme"
KEYRING = Keyring([ENCRYPTION_KEY])  # the keyring of the `env` fixture


def add_endpoint(engine: Engine, now: datetime, **columns: Any) -> str:
    """Insert an enabled endpoint created at `now`; `columns` override the defaults.

    Secrets are given in clear and stored sealed, as the API stores them.
    """
    endpoint_id = new_id("ep")
    defaults: dict[str, Any] = {
        "id": endpoint_id,
        "tenant": TENANT,
        "url": URL,
        "secret": KEYRING.seal(SECRET),
        "event_types": [],
    }
    for name in ("secret", "previous_secret"):
        if columns.get(name) is not None:
            columns[name] = KEYRING.seal(columns[name])
    times = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        conn.execute(insert(endpoints_table).values(defaults | times | columns))
    return endpoint_id


def add_deliveries(
    engine: Engine,
    due: list[datetime],
    endpoint_id: str | None = None,
    payload: bytes = b"{}",
    **columns: Any,
) -> list[str]:
    """Insert, per due time, an event and its pending delivery; `columns` override the defaults.

    Without `endpoint_id` they go to a new endpoint of their own. Everything is created at the
    earliest due time.
    """
    created = min(due)
    if endpoint_id is None:
        endpoint_id = add_endpoint(engine, created)
    ids = [(new_id("evt"), new_id("dlv")) for _ in due]
    common = {"tenant": TENANT, "created_at": created}
    delivery = {"endpoint_id": endpoint_id, "status": PENDING, "updated_at": created}
    with engine.begin() as conn:
        # One statement per table: a backlog of hundreds is written in a blink.
        conn.execute(
            insert(events_table),
            [
                {"id": event_id, "type": "invoice.paid", "payload": payload} | common
                for event_id, _ in ids
            ],
        )
        conn.execute(
            insert(deliveries_table),
            [
                {"id": delivery_id, "event_id": event_id, "next_attempt_at": at}
                | delivery
                | common
                | columns
                for (event_id, delivery_id), at in zip(ids, due, strict=True)
            ],
        )
    return [delivery_id for _, delivery_id in ids]


def add_delivery(
    engine: Engine,
    due: datetime,
    endpoint_id: str | None = None,
    payload: bytes = b"{}",
    **columns: Any,
) -> str:
    """Insert one event and its pending delivery, due (and created) at `due`."""
    [delivery_id] = add_deliveries(engine, [due], endpoint_id, payload, **columns)
    return delivery_id


def row(engine: Engine, table: Table, row_id: str) -> Row[Any]:
    """One endpoint, event or delivery row as it is now."""
    with engine.connect() as conn:
        return conn.execute(select(table).where(table.c.id == row_id)).one()


def attempt_rows(engine: Engine, delivery_id: str) -> list[Row[Any]]:
    """A delivery's attempt rows, in the order they were made."""
    query = select(attempts_table).where(attempts_table.c.delivery_id == delivery_id)
    with engine.connect() as conn:
        return list(conn.execute(query.order_by(attempts_table.c.number)))
