"""Sending an event safely: Idempotency-Key replays, conflicts and limits, and the body limit."""

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    API_KEY,
    TENANT_KEY,
    count,
    create_endpoint,
    invalid,
    keyed_client,
    other_app,
    problem,
    queued_delivery_ids,
    send_event,
)
from webhooks.config import Settings


def _counts(engine: Engine, redis_url: str) -> tuple[int, int, int]:
    return count(engine, "events"), count(engine, "deliveries"), len(queued_delivery_ids(redis_url))


def test_same_key_same_body_replays_the_first_response(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """200 with the same ids; no new event, delivery or task."""
    for _ in range(4):
        create_endpoint(client)
    headers = {"Idempotency-Key": "order-42"}
    first = send_event(client, data={"a": 1, "b": [1, 2]}, headers=headers)
    assert first.status_code == 202
    before = _counts(engine, redis_url)
    assert before == (1, 4, 4)

    again = send_event(client, data={"a": 1, "b": [1, 2]}, headers=headers)
    # The same JSON with its keys in another order is the same request.
    reordered = client.post(
        "/v1/events",
        data='{"data": {"b": [1, 2], "a": 1}, "type": "invoice.paid"}',
        content_type="application/json",
        headers=headers,
    )

    for replay in (again, reordered):
        assert replay.status_code == 200
        assert replay.get_json() == first.get_json()
    assert _counts(engine, redis_url) == before
    # Without a key, the same body is a new event.
    assert send_event(client, data={"a": 1, "b": [1, 2]}).status_code == 202
    assert _counts(engine, redis_url) == (2, 8, 8)


def test_same_key_other_body_is_a_conflict(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """409 problem when a key comes back with a different type, data or tenant."""
    create_endpoint(client)
    headers = {"Idempotency-Key": "order-42"}
    send_event(client, data={"a": 1}, headers=headers)
    before = _counts(engine, redis_url)

    problem(send_event(client, data={"a": 2}, headers=headers), 409)
    problem(send_event(client, "invoice.voided", data={"a": 1}, headers=headers), 409)

    assert _counts(engine, redis_url) == before


def test_keys_belong_to_a_tenant(app: Flask, client: FlaskClient, engine: Engine) -> None:
    """The same key in two tenants makes two events (a bound key's default tenant included)."""
    headers = {"Idempotency-Key": "shared-key"}
    mine = send_event(client, headers=headers)
    theirs = send_event(client, headers=headers, tenant="acme")
    acme = send_event(keyed_client(app, TENANT_KEY), headers=headers)

    assert (mine.status_code, theirs.status_code, acme.status_code) == (202, 202, 200)
    assert mine.get_json()["id"] != theirs.get_json()["id"] == acme.get_json()["id"]
    assert count(engine, "events") == 2


def test_idempotency_key_must_be_1_to_255_printable_characters(
    client: FlaskClient, engine: Engine
) -> None:
    """A key over 255 characters (or empty, or with control characters) is a 422."""
    for key in ("k" * 256, "", "tab\there"):
        body = problem(send_event(client, headers={"Idempotency-Key": key}), 422)
        assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(engine, "events") == 0
    assert send_event(client, headers={"Idempotency-Key": "k" * 255}).status_code == 202


def test_body_over_the_limit_is_413(settings: Settings, engine: Engine, redis_url: str) -> None:
    """A body past WEBHOOKS_MAX_PAYLOAD_BYTES is refused with 413; one at the limit is taken."""
    with other_app(settings, max_payload_bytes=1024) as app:
        client = keyed_client(app, API_KEY)
        create_endpoint(client)
        envelope = json.dumps({"type": "big", "data": {"x": ""}}, separators=(",", ":"))
        at_limit = envelope.replace('""', '"' + "x" * (1024 - len(envelope)) + '"')
        assert len(at_limit.encode()) == 1024

        over = client.post("/v1/events", data=at_limit + " ", content_type="application/json")
        problem(over, 413)
        huge = client.post(
            "/v1/endpoints", json={"url": "https://e.com/", "description": "x" * 2000}
        )
        problem(huge, 413)
        assert _counts(engine, redis_url) == (0, 0, 0)

        fits = client.post("/v1/events", data=at_limit, content_type="application/json")
        assert fits.status_code == 202


def test_deeply_nested_data_is_refused(client: FlaskClient, engine: Engine) -> None:
    """Data nested past 64 levels is a 422 on data; 64 levels are fine and can be read back."""
    create_endpoint(client)
    deep = '{"type": "a", "data": {"x": ' + "[" * 63 + "]" * 63 + "}}"
    deeper = '{"type": "a", "data": {"x": ' + "[" * 64 + "]" * 64 + "}}"
    abyss = '{"type": "a", "data": ' + "[" * 100_000 + "]" * 100_000 + "}"

    assert invalid(client.post("/v1/events", data=deeper, content_type="application/json")) == [
        ["data"]
    ]
    response = client.post("/v1/events", data=abyss, content_type="application/json")
    assert response.status_code in (400, 422)
    problem(response, response.status_code)
    assert count(engine, "events") == 0

    accepted = client.post("/v1/events", data=deep, content_type="application/json")
    assert accepted.status_code == 202
    event = client.get(f"/v1/events/{accepted.get_json()['id']}")
    assert event.status_code == 200
    assert event.get_json()["data"] == json.loads(deep)["data"]
