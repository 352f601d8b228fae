"""Driving the service as a user would, and looking behind it: clients, calls, checks, rows."""

import base64
import dataclasses
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, Table, func, insert, select, update
from werkzeug.test import TestResponse

from api import create_app
from tests.conftest import API_KEY, TENANT_KEY
from tests.support import wait_until
from tests.support.resolver import resolve
from webhooks.config import Settings
from webhooks.ids import new_id
from webhooks.models import attempts_table, deliveries_table, endpoints_table, events_table
from worker.names import DELIVERY_QUEUE

__all__ = ["API_KEY", "TENANT_KEY"]
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()  # a valid secret of 32 bytes
ENDPOINT_FIELDS = {
    "id", "url", "event_types", "tenant", "description", "enabled", "disabled_reason",
    "rate_limit", "max_in_flight", "metadata", "headers", "send_traceparent", "signature_scheme",
    "public_key",
    "created_at", "updated_at",
}  # fmt: skip
DELIVERY_FIELDS = {
    "id", "event_id", "endpoint_id", "status", "attempt_count", "next_attempt_at",
    "last_status_code", "created_at", "updated_at",
}  # fmt: skip
TABLES: dict[str, Table] = {
    "endpoints": endpoints_table,
    "events": events_table,
    "deliveries": deliveries_table,
    "attempts": attempts_table,
}


# Clients and apps.


def keyed_client(app: Flask, key: str | None) -> FlaskClient:
    """A test client that sends `Authorization: Bearer <key>` (or no header for None)."""
    client = app.test_client()
    if key is not None:
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client


@contextmanager
def other_app(settings: Settings, **changes: Any) -> Iterator[Flask]:
    """An app built from `settings` with some of them changed; its engine is closed after."""
    app = create_app(dataclasses.replace(settings, **changes), resolver=resolve)
    try:
        yield app
    finally:
        app.extensions["webhooks"].engine.dispose()


# Checks of what the API answers.


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Check that `response` is an RFC 9457 problem document with `status`; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.content_type == "application/problem+json"
    body: dict[str, Any] = response.get_json()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str)
    assert "Traceback" not in response.get_data(as_text=True)
    if status == 422:
        assert body["errors"], body
        assert all(set(error) == {"loc", "msg"} for error in body["errors"]), body
    return body


def invalid(response: TestResponse) -> list[list[str | int]]:
    """Check for a 422 problem and return the `loc` of each field error."""
    return [error["loc"] for error in problem(response, 422)["errors"]]


def json_body(response: TestResponse, status: int = 200) -> Any:
    """Check that `response` has `status`; return its JSON body."""
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


# Calls, as a user makes them.


def create_endpoint(
    client: FlaskClient, url: str = "https://example.com/hook", **fields: Any
) -> dict[str, Any]:
    """Register an endpoint (for every event type unless told) and return it, secret included."""
    response = client.post("/v1/endpoints", json={"url": url, **fields})
    created: dict[str, Any] = json_body(response, 201)
    return created


def send_event(
    client: FlaskClient,
    event_type: str = "invoice.paid",
    data: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> TestResponse:
    """POST /v1/events and return the raw response."""
    body = {"type": event_type, "data": {"invoice": "in_1"} if data is None else dict(data)}
    return client.post("/v1/events", json={**body, **fields}, headers=dict(headers or {}))


def post_event(
    client: FlaskClient,
    event_type: str = "invoice.paid",
    data: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Send an event; check that it was accepted (202); return the event with its deliveries."""
    response = send_event(client, event_type, data, headers, **fields)
    accepted: dict[str, Any] = json_body(response, 202)
    return accepted


def deliveries_by_endpoint(event: Mapping[str, Any]) -> dict[str, str]:
    """The delivery ids of an accepted event, by endpoint id."""
    return {d["endpoint_id"]: d["id"] for d in event["deliveries"]}


def get_endpoint(client: FlaskClient, endpoint_id: str) -> dict[str, Any]:
    """An endpoint as the API shows it."""
    found: dict[str, Any] = json_body(client.get(f"/v1/endpoints/{endpoint_id}"))
    return found


def get_delivery(client: FlaskClient, delivery_id: str) -> dict[str, Any]:
    """A delivery as the API shows it."""
    found: dict[str, Any] = json_body(client.get(f"/v1/deliveries/{delivery_id}"))
    return found


def attempts_of(client: FlaskClient, delivery_id: str) -> list[dict[str, Any]]:
    """The audit trail of a delivery as the API shows it, oldest first."""
    body = json_body(client.get(f"/v1/deliveries/{delivery_id}/attempts"))
    found: list[dict[str, Any]] = body["data"]
    return found


def wait_for_delivery(
    client: FlaskClient, delivery_id: str, status: str, timeout: float = 15.0
) -> dict[str, Any]:
    """Wait until the API shows a delivery in `status`; return the delivery."""

    def check() -> dict[str, Any]:
        found = get_delivery(client, delivery_id)
        return found if found["status"] == status else {}

    try:
        return wait_until(check, timeout=timeout, message=f"{delivery_id} never became {status}")
    except AssertionError as error:
        # Say where it got stuck: the state at the end of the wait, not at its start.
        raise AssertionError(f"{error}: {get_delivery(client, delivery_id)}") from None


def wait_for_attempts(
    client: FlaskClient, delivery_id: str, count: int = 1, timeout: float = 15.0
) -> list[dict[str, Any]]:
    """Wait until a delivery has `count` recorded attempts or more; return them, oldest first."""

    def check() -> list[dict[str, Any]]:
        found = attempts_of(client, delivery_id)
        return found if len(found) >= count else []

    return wait_until(check, timeout=timeout, message=f"{delivery_id} never had {count} attempts")


# Behind the API: the broker's queue and the rows in SQL.


def queued_delivery_ids(redis_url: str) -> list[str]:
    """The delivery ids of the tasks waiting in the broker's delivery queue, oldest first."""
    client = redis.Redis.from_url(redis_url)
    try:
        messages = client.lrange(DELIVERY_QUEUE, 0, -1)
    finally:
        client.close()
    ids = []
    for raw in reversed(messages):  # kombu LPUSHes: the head of the list is the newest
        message = json.loads(raw)
        assert message["headers"]["task"] == "webhooks.deliver"
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


def row(engine: Engine, table: str, row_id: str) -> dict[str, Any]:
    """Read one row behind the API."""
    t = TABLES[table]
    with engine.connect() as conn:
        found = conn.execute(select(t).where(t.c.id == row_id)).mappings().one()
    return dict(found)


def count(engine: Engine, table: str) -> int:
    """Count the rows of a table."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(TABLES[table])).scalar_one())


def set_row(engine: Engine, table: str, row_id: str, **values: Any) -> None:
    """Change a row behind the API, as the worker or the scheduler would."""
    t = TABLES[table]
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.id == row_id).values(**values))


def add_attempt(
    engine: Engine, delivery_id: str, number: int, started_at: datetime, **values: Any
) -> str:
    """Write an attempt row as the worker records it (a 500 failure unless told otherwise)."""
    delivery = row(engine, "deliveries", delivery_id)
    attempt_id = new_id("att")
    fields = {
        "duration_ms": 12.5,
        "status_code": 500,
        "response_body": "oops",
        "error": None,
        "outcome": "failure",
        **values,
    }
    with engine.begin() as conn:
        conn.execute(
            insert(attempts_table).values(
                id=attempt_id,
                delivery_id=delivery_id,
                endpoint_id=delivery["endpoint_id"],
                number=number,
                started_at=started_at,
                **fields,
            )
        )
    return attempt_id
