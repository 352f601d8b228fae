"""A tenant-bound key sees only its tenant, on every route the OpenAPI document lists."""

from datetime import timedelta
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    create_endpoint,
    json_body,
    keyed_client,
    post_event,
    problem,
    set_row,
)
from webhooks.times import utcnow

# What a bound key may send to each operation that takes a body, valid but for the tenant.
BODIES: dict[str, dict[str, Any]] = {
    "endpoints_create": {"url": "https://example.com/x", "tenant": "globex"},
    "endpoints_update": {"description": "mine now"},
    "endpoints_recover": {"since": (utcnow() - timedelta(hours=1)).isoformat()},
    "events_create": {"type": "invoice.paid", "data": {}, "tenant": "globex"},
    "api_keys_create": {"tenant": "globex"},
    "event_types_create": {"name": "globex.thing"},
    "event_types_update": {"description": "mine now"},
    "portal_sessions_create": {"tenant": "globex"},
}
# Operations for keys bound to no tenant: a bound key gets 403.
UNBOUND_ONLY = {
    "api_keys_list", "api_keys_create", "api_keys_delete", "event_types_create",
    "event_types_update", "event_types_delete", "portal_sessions_create",
}  # fmt: skip
# The event-type catalogue is one for every tenant: any key reads it.
SHARED = {"event_types_list", "event_types_get"}


def test_bound_runtime_key_sees_only_its_tenant_on_every_route(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    """Another tenant's ids answer 404 and stay untouched; lists hold only the key's tenant."""
    key = json_body(client.post("/v1/api-keys", json={"tenant": "acme"}), 201)
    acme = keyed_client(app, key["key"])
    own = create_endpoint(acme)
    other = create_endpoint(client, tenant="globex")
    json_body(client.post("/v1/event-types", json={"name": "invoice.paid"}), 201)
    own_event = post_event(acme)
    other_event = post_event(client, tenant="globex")
    (other_delivery,) = other_event["deliveries"]
    set_row(engine, "deliveries", other_delivery["id"], status="failed", updated_at=utcnow())
    foreign_ids = {
        "endpoint_id": other["id"],
        "event_id": other_event["id"],
        "delivery_id": other_delivery["id"],
        "key_id": key["id"],
        "name": "invoice.paid",
    }
    own_ids = {own["id"], own_event["id"], own_event["deliveries"][0]["id"], key["id"]}

    document = client.get("/openapi.json").get_json()
    checked = 0
    for path, operations in document["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            names = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
            missing = set(names) - set(foreign_ids)
            assert not missing, f"add another tenant's id for {missing} ({path})"
            real = path.format(**{name: foreign_ids[name] for name in names})
            if "requestBody" in operation:
                assert operation["operationId"] in BODIES, f"add a body for {path} {method}"
            body = BODIES.get(operation["operationId"])
            response = getattr(acme, method)(real, json=body)
            label = (path, method, response.get_data(as_text=True))
            if operation["operationId"] in UNBOUND_ONLY:
                problem(response, 403)
            elif operation["operationId"] in SHARED:
                json_body(response)
            elif names:
                problem(response, 404)
            elif method == "get":
                listed = json_body(response)["data"]
                assert listed, label
                for item in listed:
                    assert item["id"] in own_ids or item.get("tenant") == "acme", label
            else:
                # A create naming another tenant is refused on that field.
                refused = problem(response, 422)
                assert [e["loc"] for e in refused["errors"]] == [["tenant"]], label
            checked += 1
    assert checked >= 16
    # Nothing of globex's changed.
    after = json_body(client.get(f"/v1/endpoints/{other['id']}"))
    assert (after["description"], after["enabled"]) == ("", True)
    assert client.get(f"/v1/endpoints/{other['id']}/secret").get_json()["secret"] == other["secret"]
    delivery = json_body(client.get(f"/v1/deliveries/{other_delivery['id']}"))
    assert delivery["status"] == "failed"
    assert len(json_body(client.get("/v1/api-keys"))["data"]) == 1
    (catalogue,) = json_body(client.get("/v1/event-types"))["data"]
    assert (catalogue["name"], catalogue["description"]) == ("invoice.paid", "")
