"""Fill a database with a realistic history, fast: events, deliveries and their attempts.

Rows are written with PostgreSQL's COPY (SQLite: executemany), ids made as the service makes
them (time first, so that they sort by creation), times spread over the last `days` days.
"""

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, insert, text
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from webhooks.events.fanout import encode_payload
from webhooks.models import (
    attempts_table,
    deliveries_table,
    endpoints_table,
    events_table,
)
from webhooks.security.signing import generate_secret

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
TYPES = ("invoice.paid", "invoice.created", "customer.created", "customer.deleted", "order.shipped")
BATCH = 20_000


@dataclass(frozen=True)
class Shape:
    """How much history to make."""

    tenants: int = 20
    endpoints_per_tenant: int = 10
    deliveries: int = 800_000  # one event each, 1.25 attempts each: about 1,000,000
    days: float = 14.0


def make_id(prefix: str, moment: datetime, rng: random.Random) -> str:
    """An id as webhooks.ids makes them, for a past moment (random part from `rng`)."""
    millis = int(moment.timestamp() * 1000)
    head = []
    for _ in range(10):
        millis, digit = divmod(millis, 32)
        head.append(_CROCKFORD[digit])
    tail = "".join(_CROCKFORD[byte & 31] for byte in rng.randbytes(16))
    return f"{prefix}_{''.join(reversed(head))}{tail}"


def fill(engine: Engine, shape: Shape, now: datetime, seed: int = 7) -> list[dict[str, Any]]:
    """Write the history; return the endpoints made."""
    rng = random.Random(seed)
    start = now - timedelta(days=shape.days)
    endpoints = _endpoints(shape, start, rng)
    _write(engine, endpoints_table, iter(endpoints))
    _write(engine, events_table, (row for row, _, _ in _history(shape, endpoints, now, rng)))
    rng = random.Random(seed)  # the same history again, for the other two tables
    _endpoints(shape, start, rng)
    _write(engine, deliveries_table, (row for _, row, _ in _history(shape, endpoints, now, rng)))
    rng = random.Random(seed)
    _endpoints(shape, start, rng)
    _write(
        engine,
        attempts_table,
        (
            attempt
            for _, _, attempts in _history(shape, endpoints, now, rng)
            for attempt in attempts
        ),
    )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # As autovacuum leaves a database in use: statistics and the visibility map set.
            conn.execute(text("VACUUM ANALYZE"))
    return endpoints


def _endpoints(shape: Shape, start: datetime, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for tenant in range(shape.tenants):
        for number in range(shape.endpoints_per_tenant):
            created = start - timedelta(minutes=tenant * 60 + number)
            failing = rng.random() < 0.1
            disabled = rng.random() < 0.05
            rows.append(
                {
                    "id": make_id("ep", created, rng),
                    "tenant": f"tenant-{tenant:02d}",
                    "url": f"https://hooks.tenant-{tenant:02d}.example/{number}",
                    "description": f"Receiver {number}",
                    "event_types": []
                    if number % 3 == 0
                    else [rng.choice(TYPES).split(".")[0] + ".*"],
                    "secret": generate_secret(),
                    "enabled": not disabled,
                    "disabled_reason": "failing" if disabled else None,
                    "metadata": {"team": "billing"},
                    "failure_count": 12 if failing else 0,
                    "failing_since": created if failing else None,
                    "created_at": created,
                    "updated_at": created,
                }
            )
    return rows


def _history(
    shape: Shape, endpoints: list[dict[str, Any]], now: datetime, rng: random.Random
) -> Iterator[tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]]:
    span = shape.days * 86400
    for index in range(shape.deliveries):
        created = now - timedelta(seconds=span * (1 - index / shape.deliveries) + 30)
        endpoint = endpoints[rng.randrange(len(endpoints))]
        kind = rng.random()
        status = (
            "succeeded" if kind < 0.88 else "failed" if kind < 0.94 else
            "pending" if kind < 0.98 else "cancelled"
        )  # fmt: skip
        event_type = rng.choice(TYPES)
        data = {"invoice": f"in_{index}", "amount": rng.randrange(100, 100_000)}
        event_id = make_id("evt", created, rng)
        delivery_id = make_id("dlv", created, rng)
        first, second = created + timedelta(seconds=1), created + timedelta(seconds=6)
        # Most successes take one attempt; the rest, and every other outcome, take two.
        once = status == "succeeded" and rng.random() < 0.85
        event = {
            "id": event_id,
            "tenant": endpoint["tenant"],
            "type": event_type,
            "payload": encode_payload(event_type, created, data),
            "created_at": created,
        }
        delivery = {
            "id": delivery_id,
            "tenant": endpoint["tenant"],
            "event_id": event_id,
            "endpoint_id": endpoint["id"],
            "status": status,
            "attempt_count": 1 if once else 2,
            "run_start": 0,
            "next_attempt_at": second + timedelta(minutes=5) if status == "pending" else None,
            "last_status_code": 200 if status == "succeeded" else 500,
            "created_at": created,
            "updated_at": first if once else second,
        }
        if once:
            attempts = [_attempt(delivery, 1, first, 200, "success", rng)]
        else:
            attempts = [
                _attempt(delivery, 1, first, 500, "failure", rng),
                _attempt(delivery, 2, second, *_last(status), rng),
            ]
        yield event, delivery, attempts


def _last(status: str) -> tuple[int, str]:
    return (200, "success") if status == "succeeded" else (500, "failure")


def _attempt(
    delivery: dict[str, Any],
    number: int,
    started: datetime,
    code: int,
    outcome: str,
    rng: random.Random,
) -> dict[str, Any]:
    return {
        "id": make_id("att", started, rng),
        "delivery_id": delivery["id"],
        "endpoint_id": delivery["endpoint_id"],
        "number": number,
        "started_at": started,
        "duration_ms": 42.0,
        "status_code": code,
        "response_body": "ok" if code == 200 else "internal error",
        "error": None,
        "outcome": outcome,
    }


def _write(engine: Engine, table: Table, rows: Iterator[dict[str, Any]]) -> None:
    if engine.dialect.name != "postgresql":
        batch: list[dict[str, Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == BATCH:
                with engine.begin() as conn:
                    conn.execute(insert(table), batch)
                batch = []
        if batch:
            with engine.begin() as conn:
                conn.execute(insert(table), batch)
        return
    columns = [column.name for column in table.columns]
    # COPY skips the model's defaults: a column the rows leave out gets its default here.
    defaults = {
        column.name: column.default.arg
        for column in table.columns
        if isinstance(column.default, ScalarElementColumnDefault)
    }
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_copy_value(row.get(name, defaults.get(name))) for name in columns])
        raw.commit()
    finally:
        raw.close()


def _copy_value(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value
