"""/v1/event-types: the catalogue, schemas checked at ingest, unknown types refused on demand."""

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    TENANT_KEY,
    count,
    create_endpoint,
    invalid,
    json_body,
    keyed_client,
    other_app,
    post_event,
    problem,
    send_event,
)
from webhooks.config import Settings

INVOICE = {
    "type": "object",
    "properties": {
        "invoice": {"type": "string"},
        "amount": {"type": "integer", "minimum": 0},
        "lines": {"type": "array", "items": {"type": "object", "required": ["sku"]}},
    },
    "required": ["invoice", "amount"],
}


def add_type(
    client: FlaskClient, name: str = "invoice.paid", **fields: object
) -> dict[str, object]:
    """Put a type in the catalogue; return it."""
    created: dict[str, object] = json_body(
        client.post("/v1/event-types", json={"name": name, **fields}), 201
    )
    return created


def test_catalogue_create_read_change_archive_delete(client: FlaskClient) -> None:
    """An entry is stored as given, listed by name, changed, archived out of the list, deleted."""
    created = add_type(
        client,
        description="An invoice was paid",
        schema=INVOICE,
        example={"invoice": "in_1", "amount": 5},
    )
    assert created["schema"] == INVOICE and created["archived"] is False
    add_type(client, "customer.created")
    names = [t["name"] for t in json_body(client.get("/v1/event-types"))["data"]]
    assert names == ["customer.created", "invoice.paid"]
    assert (
        json_body(client.get("/v1/event-types/invoice.paid"))["description"]
        == "An invoice was paid"
    )

    changed = json_body(
        client.patch("/v1/event-types/invoice.paid", json={"schema": None, "archived": True})
    )
    assert (changed["schema"], changed["archived"], changed["example"]) == (
        None,
        True,
        {"invoice": "in_1", "amount": 5},
    )
    assert [t["name"] for t in json_body(client.get("/v1/event-types"))["data"]] == [
        "customer.created"
    ]
    assert len(json_body(client.get("/v1/event-types?archived=true"))["data"]) == 2
    page = json_body(client.get("/v1/event-types?archived=true&limit=1"))
    assert [t["name"] for t in page["data"]] == ["customer.created"]
    after = json_body(client.get(f"/v1/event-types?archived=true&cursor={page['next_cursor']}"))
    assert [t["name"] for t in after["data"]] == ["invoice.paid"]

    assert client.delete("/v1/event-types/invoice.paid").status_code == 204
    problem(client.get("/v1/event-types/invoice.paid"), 404)
    problem(client.delete("/v1/event-types/invoice.paid"), 404)
    problem(client.post("/v1/event-types", json={"name": "customer.created"}), 409)


def test_bad_schema_or_example_is_refused(client: FlaskClient) -> None:
    """A schema that is not JSON Schema, a remote $ref, or an example that breaks it: 422."""
    assert invalid(
        client.post("/v1/event-types", json={"name": "a", "schema": {"type": "nope"}})
    ) == [["schema"]]
    assert invalid(
        client.post(
            "/v1/event-types", json={"name": "a", "schema": {"$ref": "https://x.test/s.json"}}
        )
    ) == [["schema"]]
    bad_example = client.post(
        "/v1/event-types",
        json={"name": "a", "schema": INVOICE, "example": {"invoice": 1, "amount": 2}},
    )
    assert invalid(bad_example) == [["example", "invoice"]]
    for unusable in (
        {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}},
        {"$defs": {"x": {"$ref": "#/$defs/x"}}, "$ref": "#/$defs/x"},
        {"pattern": "("},
    ):
        response = client.post("/v1/event-types", json={"name": "a", "schema": unusable})
        assert invalid(response) == [["schema"]], unusable
    add_type(client, "a", schema=INVOICE)
    assert invalid(client.patch("/v1/event-types/a", json={"example": {"amount": 1}})) == [
        ["example"]
    ]
    assert invalid(client.post("/v1/event-types", json={"name": "a b"})) == [["name"]]


def test_events_breaking_the_schema_get_422_naming_the_field(
    client: FlaskClient, engine: Engine
) -> None:
    """Ingest checks `data` against its type's schema, naming each bad field; nothing is kept."""
    add_type(client, schema=INVOICE)
    create_endpoint(client)
    response = send_event(client, data={"invoice": "in_1", "amount": -3, "lines": [{}]})
    assert sorted(invalid(response)) == [["data", "amount"], ["data", "lines", 0]]
    assert (
        "minimum"
        in problem(send_event(client, data={"invoice": "in_1", "amount": -3}), 422)["errors"][0][
            "msg"
        ]
    )
    assert invalid(send_event(client, data={"amount": 3})) == [["data"]]
    assert count(engine, "events") == 0
    post_event(client, data={"invoice": "in_1", "amount": 3})
    # Types without a schema, and types outside the catalogue, are taken as they come.
    post_event(client, "invoice.created", data={"anything": True})
    assert count(engine, "events") == 2


def test_unknown_types_refused_when_required(settings: Settings) -> None:
    """With WEBHOOKS_REQUIRE_KNOWN_EVENT_TYPES, only catalogued, unarchived types are taken."""
    with other_app(settings, require_known_event_types=True) as app:
        client = keyed_client(app, "test-key")
        add_type(client)
        add_type(client, "old.thing", archived=True)
        assert invalid(send_event(client, "invoice.created")) == [["type"]]
        assert "archived" in problem(send_event(client, "old.thing"), 422)["detail"]
        assert send_event(client, "invoice.paid").status_code == 202


def test_tenant_key_reads_but_cannot_change_the_catalogue(app: Flask, client: FlaskClient) -> None:
    """The catalogue is shared by every tenant: a bound key may read it, not change it (403)."""
    add_type(client)
    acme = keyed_client(app, TENANT_KEY)
    assert [t["name"] for t in json_body(acme.get("/v1/event-types"))["data"]] == ["invoice.paid"]
    problem(acme.post("/v1/event-types", json={"name": "x"}), 403)
    problem(acme.patch("/v1/event-types/invoice.paid", json={"description": "x"}), 403)
    problem(acme.delete("/v1/event-types/invoice.paid"), 403)
    assert json_body(client.get("/v1/event-types/invoice.paid"))["description"] == ""
