"""Events: accepted, fanned out to exactly the matching endpoints, queued, stored byte for byte."""

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from tests.support.api import (
    RFC3339,
    count,
    create_endpoint,
    invalid,
    problem,
    queued_delivery_ids,
    row,
    send_event,
)


def test_event_is_accepted_with_the_documented_shape(client: FlaskClient, redis_url: str) -> None:
    """202 with id, type, tenant, created_at and one {id, endpoint_id} per delivery."""
    endpoint = create_endpoint(client)

    response = client.post("/v1/events", json={"type": "invoice.paid", "data": {"invoice": "in_1"}})

    assert response.status_code == 202
    body = response.get_json()
    assert set(body) == {"id", "type", "tenant", "created_at", "deliveries"}
    assert re.fullmatch(r"evt_[0-9a-z]{26}", body["id"])
    assert (body["type"], body["tenant"]) == ("invoice.paid", "default")
    assert re.fullmatch(RFC3339, body["created_at"])
    (delivery,) = body["deliveries"]
    assert set(delivery) == {"id", "endpoint_id"}
    assert re.fullmatch(r"dlv_[0-9a-z]{26}", delivery["id"])
    assert delivery["endpoint_id"] == endpoint["id"]
    assert queued_delivery_ids(redis_url) == [delivery["id"]]


def test_only_matching_enabled_endpoints_of_the_tenant_get_a_delivery(
    client: FlaskClient, redis_url: str
) -> None:
    """Exact type, `prefix.*` and an empty filter match; nothing else does; one task each."""
    exact = create_endpoint(client, event_types=["invoice.paid"])
    prefix = create_endpoint(client, event_types=["user.created", "invoice.*"])
    every = create_endpoint(client)
    for event_types in (["invoice.created"], ["invoices.*"], ["invoice.paid.*"], ["inv.*"]):
        create_endpoint(client, event_types=event_types)
    create_endpoint(client, tenant="acme")
    disabled = create_endpoint(client)
    client.patch(f"/v1/endpoints/{disabled['id']}", json={"enabled": False})
    deleted = create_endpoint(client)
    client.delete(f"/v1/endpoints/{deleted['id']}")

    body = send_event(client, "invoice.paid").get_json()

    reached = sorted(d["endpoint_id"] for d in body["deliveries"])
    assert reached == sorted([exact["id"], prefix["id"], every["id"]])
    assert len({d["id"] for d in body["deliveries"]}) == 3
    assert sorted(queued_delivery_ids(redis_url)) == sorted(d["id"] for d in body["deliveries"])
    # Another tenant's event reaches only that tenant's endpoint; a type nobody wants, the
    # catch-all endpoint alone; and a tenant without endpoints, nobody (and queues nothing).
    assert len(send_event(client, "invoice.paid", tenant="acme").get_json()["deliveries"]) == 1
    (only,) = send_event(client, "user.deleted").get_json()["deliveries"]
    assert only["endpoint_id"] == every["id"]
    assert send_event(client, tenant="initech").get_json()["deliveries"] == []
    assert len(queued_delivery_ids(redis_url)) == 3 + 1 + 1


def test_event_type_rules(client: FlaskClient, engine: Engine) -> None:
    """1-128 characters of [A-Za-z0-9_.-], else 422 on type; nothing is stored."""
    for event_type in ("", "a" * 129, "invoice paid", "invoice/paid", "invoice.*", "fäktura"):
        assert invalid(send_event(client, event_type)) == [["type"]], event_type
    assert invalid(client.post("/v1/events", json={"type": 42, "data": {}})) == [["type"]]
    assert invalid(client.post("/v1/events", json={"data": {}})) == [["type"]]
    assert count(engine, "events") == 0
    for event_type in ("a" * 128, "A-Z_a.z-0.9", "x"):
        assert send_event(client, event_type).status_code == 202, event_type


def test_data_must_be_an_object(client: FlaskClient, engine: Engine) -> None:
    """`data` is required and must be a JSON object: 422 on data otherwise."""
    for data in ([], [1], "x", 1, True, None):
        response = client.post("/v1/events", json={"type": "a", "data": data})
        assert invalid(response) == [["data"]], data
    assert invalid(client.post("/v1/events", json={"type": "a"})) == [["data"]]
    assert invalid(send_event(client, extra=1)) == [["extra"]]
    assert invalid(send_event(client, tenant="two words")) == [["tenant"]]
    not_objects: list[Any] = [[], "text", 7]
    for body in not_objects:
        assert problem(client.post("/v1/events", json=body), 422)
    assert count(engine, "events") == 0


def test_malformed_json_is_400(client: FlaskClient, engine: Engine, redis_url: str) -> None:
    """Not JSON, NaN, Infinity, numbers past a double, lone surrogates: 400, nothing stored."""
    create_endpoint(client)
    for raw in [
        "",
        "{",
        '{"type": "a", "data": {}',
        "{'type': 'a', 'data': {}}",
        '{"type": "a", "data": {"x": NaN}}',
        '{"type": "a", "data": {"x": Infinity}}',
        '{"type": "a", "data": {"x": -Infinity}}',
        '{"type": "a", "data": {"x": 1e400}}',
        '{"type": "a", "data": {"x": "\\ud800"}}',
        '{"type": "a", "data": {"\\udfff": 1}}',
        '{"type": "a", "data": {}} trailing',
    ]:
        response = client.post("/v1/events", data=raw, content_type="application/json")
        assert response.status_code in (400, 422), raw
        if raw:
            problem(response, 400)
    problem(client.post("/v1/events", data=b"\xff\xfe{}", content_type="application/json"), 400)
    assert count(engine, "events") == 0 and queued_delivery_ids(redis_url) == []


def test_stored_payload_is_exactly_type_timestamp_data(client: FlaskClient, engine: Engine) -> None:
    """The bytes every attempt will send are `{"type":...,"timestamp":...,"data":...}` in UTF-8."""
    create_endpoint(client)
    # Keys out of order, as a client may send them: the payload keeps the client's order.
    data: dict[str, Any] = {
        "text": '€ ☃ \u0000 "quoted"',
        "amount": 12.5,
        "nested": {"list": [1, None, True], "empty": {}},
        "big": 12345678901234567890,
    }
    raw = json.dumps({"data": data, "type": "invoice.paid"})
    body = client.post("/v1/events", data=raw, content_type="application/json").get_json()

    payload = row(engine, "events", body["id"])["payload"]
    expected = {"type": "invoice.paid", "timestamp": body["created_at"], "data": data}
    assert payload == json.dumps(expected, separators=(",", ":"), ensure_ascii=False).encode()
    assert json.loads(payload) == expected


def test_get_event_returns_data_and_delivery_status(client: FlaskClient, engine: Engine) -> None:
    """GET /v1/events/{id} has the data and every delivery with its current status."""
    first, second = create_endpoint(client), create_endpoint(client)
    data = {"invoice": "in_1", "lines": [{"amount": 3}]}
    body = send_event(client, "invoice.paid", data).get_json()
    by_endpoint = {d["endpoint_id"]: d["id"] for d in body["deliveries"]}
    client.delete(f"/v1/endpoints/{second['id']}")  # its delivery is now cancelled

    response = client.get(f"/v1/events/{body['id']}")

    assert response.status_code == 200
    event = response.get_json()
    assert set(event) == {"id", "type", "tenant", "created_at", "data", "deliveries"}
    assert {k: event[k] for k in ("id", "type", "tenant", "created_at")} == {
        k: body[k] for k in ("id", "type", "tenant", "created_at")
    }
    assert event["data"] == data
    statuses = {d["endpoint_id"]: (d["id"], d["status"]) for d in event["deliveries"]}
    assert statuses == {
        first["id"]: (by_endpoint[first["id"]], "pending"),
        second["id"]: (by_endpoint[second["id"]], "cancelled"),
    }
    problem(client.get("/v1/events/evt_01aaaaaaaaaaaaaaaaaaaaaaaa"), 404)
    problem(client.get("/v1/events/nope"), 404)


def test_list_events_filters_and_pages(client: FlaskClient) -> None:
    """`type` and `tenant` filter the list; pages run newest first without the data."""
    paid = [send_event(client, "invoice.paid").get_json()["id"] for _ in range(3)]
    created = send_event(client, "invoice.created").get_json()["id"]
    acme = send_event(client, "invoice.paid", tenant="acme").get_json()["id"]

    def ids(query: str) -> list[str]:
        response = client.get(f"/v1/events{query}")
        assert response.status_code == 200
        return [e["id"] for e in response.get_json()["data"]]

    newest_first = sorted([*paid, created, acme], reverse=True)
    assert ids("") == newest_first
    assert ids("?type=invoice.paid&tenant=default") == sorted(paid, reverse=True)
    assert ids("?type=invoice.created") == [created]
    assert ids("?tenant=acme") == [acme]
    listed = client.get("/v1/events?limit=1").get_json()
    assert set(listed["data"][0]) == {"id", "type", "tenant", "created_at"}
    assert listed["next_cursor"] == newest_first[0]
    assert ids(f"?cursor={newest_first[1]}&limit=2") == newest_first[2:4]
    assert invalid(client.get("/v1/events?type=invoice.*")) == [["query", "type"]]
    assert invalid(client.get("/v1/events?limit=300")) == [["query", "limit"]]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_an_event_after_the_database_dropped_its_connections_is_accepted_once(
    client: FlaskClient, engine: Engine
) -> None:
    """The API's pooled connections died (a restart): the next event is read again on a fresh
    one and stored once, not refused."""
    create_endpoint(client)
    send_event(client)  # the API's pool now holds a connection
    with engine.connect() as conn:
        conn.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )

    response = client.post("/v1/events", json={"type": "invoice.paid", "data": {"n": 2}})

    assert response.status_code == 202, response.get_json()
    assert count(engine, "events") == 2
