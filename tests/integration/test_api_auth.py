"""API keys: every /v1 route needs one, keys rotate, and a tenant-bound key sees only its tenant."""

import pytest
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
from webhooks.config import ApiKey, Settings

# Each /v1 route that needs a key, with a body where it takes one.
V1_ROUTES = [
    ("get", "/v1/endpoints"),
    ("post", "/v1/endpoints"),
    ("get", "/v1/events"),
    ("post", "/v1/events"),
    ("get", "/v1/deliveries"),
    ("get", "/v1/endpoints/ep_01aaaaaaaaaaaaaaaaaaaaaaaa"),
    ("post", "/v1/deliveries/dlv_01aaaaaaaaaaaaaaaaaaaaaaaa/retry"),
    ("get", "/v1/event-types"),
    ("post", "/v1/event-types"),
    ("patch", "/v1/event-types/invoice.paid"),
    ("delete", "/v1/event-types/invoice.paid"),
    ("post", "/v1/portal-sessions"),
]


BAD_AUTHORIZATIONS = [
    None, "", "Bearer", "Bearer ", "Basic dGVzdC1rZXk6", API_KEY, "Bearer wrong-key",
    f"Bearer {API_KEY}x", f"Bearer x{API_KEY}", f"Token {API_KEY}", f"Bearer {API_KEY.upper()}",
]  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no query reaches it
def test_v1_routes_refuse_a_missing_or_wrong_key(app: Flask, redis_url: str) -> None:
    """No header, another scheme or an unknown key: 401 problem with a Bearer challenge."""
    client = app.test_client()
    for authorization in BAD_AUTHORIZATIONS:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, path in V1_ROUTES:
            body = {"type": "invoice.paid", "data": {}} if method == "post" else None
            response = getattr(client, method)(path, json=body, headers=headers)
            problem(response, 401)
            assert response.headers["WWW-Authenticate"].startswith("Bearer"), authorization
    assert queued_delivery_ids(redis_url) == []
    # The scheme's name is case-insensitive (RFC 9110); the key is not.
    assert (
        client.get("/v1/events", headers={"Authorization": f"bearer {API_KEY}"}).status_code == 200
    )


def test_refused_request_changes_nothing(app: Flask, client: FlaskClient, engine: Engine) -> None:
    """A POST with a wrong key stores nothing."""
    create_endpoint(client)
    bad = keyed_client(app, "not-a-key")
    problem(send_event(bad), 401)
    problem(bad.post("/v1/endpoints", json={"url": "https://example.com/x"}), 401)
    assert (count(engine, "events"), count(engine, "endpoints")) == (0, 1)


def test_both_keys_of_a_rotation_work(settings: Settings) -> None:
    """With two keys configured, each works, and each sees what the other created."""
    keys = (ApiKey("old-key"), ApiKey("new-key"))
    with other_app(settings, api_keys=keys) as app:
        old, new = keyed_client(app, "old-key"), keyed_client(app, "new-key")
        endpoint = create_endpoint(old)
        assert new.get(f"/v1/endpoints/{endpoint['id']}").status_code == 200
        assert send_event(new).status_code == 202
        assert old.get("/v1/events").get_json()["data"][0]["type"] == "invoice.paid"
        problem(keyed_client(app, API_KEY).get("/v1/events"), 401)  # no longer configured


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_public_routes_need_no_key(app: Flask) -> None:
    """Health, readiness, metrics and the OpenAPI document answer without a key."""
    client = app.test_client()
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert client.get(path).status_code == 200, path


def test_tenant_key_defaults_to_its_tenant(app: Flask, client: FlaskClient) -> None:
    """A key bound to acme creates endpoints and events in acme when no tenant is given."""
    acme = keyed_client(app, TENANT_KEY)
    endpoint = create_endpoint(acme)
    assert endpoint["tenant"] == "acme"
    assert create_endpoint(acme, tenant="acme")["tenant"] == "acme"
    event = send_event(acme).get_json()
    assert event["tenant"] == "acme"
    assert [d["endpoint_id"] for d in event["deliveries"]] != []
    # The unbound key still defaults to "default".
    assert create_endpoint(client)["tenant"] == "default"


def test_tenant_key_may_not_name_another_tenant(app: Flask, client: FlaskClient) -> None:
    """Asking for another tenant with a bound key is a 422 on the tenant field."""
    acme = keyed_client(app, TENANT_KEY)
    mine = create_endpoint(acme)
    post = acme.post("/v1/endpoints", json={"url": "https://example.com/x", "tenant": "globex"})
    assert invalid(post) == [["tenant"]]
    assert invalid(send_event(acme, tenant="globex")) == [["tenant"]]
    assert invalid(acme.patch(f"/v1/endpoints/{mine['id']}", json={"tenant": "globex"})) == [
        ["tenant"]
    ]
    assert invalid(acme.get("/v1/endpoints?tenant=globex")) == [["query", "tenant"]]
    assert invalid(acme.get("/v1/events?tenant=globex")) == [["query", "tenant"]]
    assert client.get(f"/v1/endpoints/{mine['id']}").get_json()["tenant"] == "acme"


def test_tenant_key_sees_only_its_tenant(app: Flask, client: FlaskClient) -> None:
    """Lists hold only acme's objects; another tenant's ids answer 404 and stay as they were."""
    acme = keyed_client(app, TENANT_KEY)
    own = create_endpoint(client, tenant="acme")
    other = create_endpoint(client, tenant="globex")
    own_event = send_event(client, tenant="acme").get_json()
    other_event = send_event(client, tenant="globex").get_json()
    (other_delivery,) = other_event["deliveries"]

    assert [e["id"] for e in acme.get("/v1/endpoints").get_json()["data"]] == [own["id"]]
    assert [e["id"] for e in acme.get("/v1/events").get_json()["data"]] == [own_event["id"]]
    deliveries = acme.get("/v1/deliveries").get_json()["data"]
    assert [d["id"] for d in deliveries] == [own_event["deliveries"][0]["id"]]
    filtered = acme.get(f"/v1/deliveries?endpoint_id={other['id']}").get_json()["data"]
    assert filtered == []

    ep, dlv = f"/v1/endpoints/{other['id']}", f"/v1/deliveries/{other_delivery['id']}"
    for method, path, body in [
        ("get", ep, None),
        ("patch", ep, {"description": "mine now"}),
        ("delete", ep, None),
        ("get", f"{ep}/secret", None),
        ("post", f"{ep}/secret/rotate", None),
        ("post", f"{ep}/recover", {"since": other["created_at"]}),
        ("get", f"{ep}/stats", None),
        ("get", f"/v1/events/{other_event['id']}", None),
        ("get", dlv, None),
        ("get", f"{dlv}/attempts", None),
        ("post", f"{dlv}/retry", None),
    ]:
        problem(getattr(acme, method)(path, json=body), 404)
    # Nothing of globex's was touched.
    after = client.get(ep).get_json()
    assert (after["description"], after["enabled"]) == ("", True)
    assert client.get(f"{ep}/secret").get_json()["secret"] == other["secret"]
    assert client.get(dlv).get_json()["status"] == "pending"
