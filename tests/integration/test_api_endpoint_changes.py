"""Changing endpoints: PATCH any field, null only for the rate limit, enable and disable."""

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    SECRET,
    TENANT_KEY,
    create_endpoint,
    invalid,
    keyed_client,
    problem,
    row,
    send_event,
    set_row,
)
from webhooks.times import utcnow


def test_patch_changes_any_creatable_field(client: FlaskClient) -> None:
    """PATCH sets what it names, leaves the rest, and moves updated_at."""
    created = create_endpoint(client, rate_limit=5, metadata={"a": "1"}, event_types=["x.y"])
    path = f"/v1/endpoints/{created['id']}"
    changes = {
        "url": "https://example.org/new",
        "event_types": ["invoice.*"],
        "description": "new",
        "metadata": {"b": "2"},
        "rate_limit": 7,
    }
    response = client.patch(path, json=changes)

    assert response.status_code == 200
    body = response.get_json()
    assert {k: body[k] for k in changes} == changes
    assert body["tenant"] == "default" and body["enabled"] is True
    assert (
        body["updated_at"] >= created["updated_at"] and body["created_at"] == created["created_at"]
    )
    assert client.get(path).get_json() == body
    # The secret can be replaced too; an empty PATCH changes nothing.
    assert client.patch(path, json={"secret": SECRET}).status_code == 200
    assert client.get(f"{path}/secret").get_json()["secret"] == SECRET
    assert client.patch(path, json={}).get_json()["url"] == "https://example.org/new"


def test_patch_null_clears_only_the_limits(client: FlaskClient) -> None:
    """`rate_limit: null` means unlimited, `max_in_flight: null` the default; null for any
    other field is a 422 on that field."""
    created = create_endpoint(client, rate_limit=5, max_in_flight=3)
    path = f"/v1/endpoints/{created['id']}"

    assert client.patch(path, json={"max_in_flight": 7}).get_json()["max_in_flight"] == 7
    assert client.patch(path, json={"max_in_flight": None}).get_json()["max_in_flight"] is None
    assert client.patch(path, json={"rate_limit": None}).get_json()["rate_limit"] is None
    for name in ("url", "event_types", "description", "secret", "metadata", "enabled"):
        assert invalid(client.patch(path, json={name: None})) == [[name]], name
    for body, loc in [
        ({"url": "http://10.1.2.3/"}, ["url"]),
        ({"url": "gopher://example.com/"}, ["url"]),
        ({"enabled": "yes"}, ["enabled"]),
        ({"max_in_flight": 0}, ["max_in_flight"]),
        ({"event_types": ["a.*.*"]}, ["event_types", 0]),
        ({"secret": "whsec_x"}, ["secret"]),
        ({"id": "ep_01aaaaaaaaaaaaaaaaaaaaaaaa"}, ["id"]),
        ({"created_at": "2020-01-01T00:00:00Z"}, ["created_at"]),
    ]:
        assert invalid(client.patch(path, json=body)) == [loc], body
    # Nothing but the limits changed.
    after = client.get(path).get_json()
    unchanged = {k: v for k, v in created.items() if k not in ("secret", "updated_at")}
    cleared = {"rate_limit": None, "max_in_flight": None}
    assert after == {**unchanged, **cleared, "updated_at": after["updated_at"]}


def test_enabling_clears_the_reason_and_the_streak(client: FlaskClient, engine: Engine) -> None:
    """An endpoint disabled for failing is enabled again with no reason and no streak."""
    created = create_endpoint(client)
    path = f"/v1/endpoints/{created['id']}"
    # As the worker leaves an endpoint it disabled after a long failure streak.
    set_row(
        engine,
        "endpoints",
        created["id"],
        enabled=False,
        disabled_reason="failing",
        failure_count=12,
        failing_since=utcnow(),
    )
    assert client.get(path).get_json()["disabled_reason"] == "failing"

    body = client.patch(path, json={"enabled": True}).get_json()

    assert (body["enabled"], body["disabled_reason"]) == (True, None)
    assert client.get(f"{path}/stats").get_json()["failure_streak"] == {
        "failures": 0,
        "since": None,
    }
    stored = row(engine, "endpoints", created["id"])
    assert (stored["failure_count"], stored["failing_since"]) == (0, None)
    assert len(send_event(client).get_json()["deliveries"]) == 1


def test_disabling_cancels_pending_deliveries(client: FlaskClient, engine: Engine) -> None:
    """`enabled: false` gives reason "manual", cancels what is pending and stops new deliveries."""
    created = create_endpoint(client)
    path = f"/v1/endpoints/{created['id']}"
    (pending,) = send_event(client).get_json()["deliveries"]
    (done,) = send_event(client).get_json()["deliveries"]
    set_row(engine, "deliveries", done["id"], status="succeeded")

    body = client.patch(path, json={"enabled": False}).get_json()

    assert (body["enabled"], body["disabled_reason"]) == (False, "manual")
    assert client.get(f"/v1/deliveries/{pending['id']}").get_json()["status"] == "cancelled"
    assert client.get(f"/v1/deliveries/{done['id']}").get_json()["status"] == "succeeded"
    assert send_event(client).get_json()["deliveries"] == []


def test_an_endpoint_stays_in_its_tenant(app: Flask, client: FlaskClient, engine: Engine) -> None:
    """Moving an endpoint to another tenant is refused (422): each tenant's view stays its own.

    A move would take the endpoint's past deliveries and attempts into the new tenant's
    stats and recover (re-sending the old tenant's events), and its pending retries with them.
    """
    created = create_endpoint(client, tenant="acme")
    old_event = send_event(client, tenant="acme").get_json()
    (delivery,) = old_event["deliveries"]
    set_row(engine, "deliveries", delivery["id"], status="failed", updated_at=utcnow())
    path = f"/v1/endpoints/{created['id']}"
    for key, body in [
        (client, {"tenant": "globex"}),
        (client, {"tenant": "acme"}),  # naming it at all: the field is not part of a PATCH
        (keyed_client(app, TENANT_KEY), {"tenant": "globex", "description": "x"}),
    ]:
        refused = problem(key.patch(path, json=body), 422)
        assert [e["loc"] for e in refused["errors"]] == [["tenant"]]
        assert "stays in the tenant" in refused["errors"][0]["msg"]
    # Both tenants' views after the attempt: acme's is whole, globex's is empty.
    acme = keyed_client(app, TENANT_KEY)
    assert acme.get(path).get_json()["tenant"] == "acme"
    assert acme.get(f"{path}/stats").get_json()["deliveries"]["failed"] == 1
    assert [d["id"] for d in acme.get("/v1/deliveries").get_json()["data"]] == [delivery["id"]]
    assert client.get("/v1/endpoints?tenant=globex").get_json()["data"] == []
    assert send_event(client, tenant="globex").get_json()["deliveries"] == []
    assert len(send_event(client, tenant="acme").get_json()["deliveries"]) == 1
