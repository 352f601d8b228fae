"""/openapi.json: a valid OpenAPI 3.1 document of every route, true to what the API does."""

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import Engine
from werkzeug.test import TestResponse

from tests.support.api import add_attempt, create_endpoint
from webhooks.times import utcnow

# Every route the API promises, and its methods (the document does not describe itself).
ROUTES = {
    "/v1/endpoints": {"get", "post"},
    "/v1/endpoints/{endpoint_id}": {"get", "patch", "delete"},
    "/v1/endpoints/{endpoint_id}/secret": {"get"},
    "/v1/endpoints/{endpoint_id}/secret/rotate": {"post"},
    "/v1/endpoints/{endpoint_id}/recover": {"post"},
    "/v1/endpoints/{endpoint_id}/stats": {"get"},
    "/v1/events": {"get", "post"},
    "/v1/events/{event_id}": {"get"},
    "/v1/deliveries": {"get"},
    "/v1/deliveries/{delivery_id}": {"get"},
    "/v1/deliveries/{delivery_id}/attempts": {"get"},
    "/v1/deliveries/{delivery_id}/retry": {"post"},
    "/v1/api-keys": {"get", "post"},
    "/v1/api-keys/{key_id}": {"delete"},
    "/v1/event-types": {"get", "post"},
    "/v1/event-types/{name}": {"get", "patch", "delete"},
    "/v1/portal-sessions": {"post"},
    "/healthz": {"get"},
    "/readyz": {"get"},
    "/metrics": {"get"},
}
PUBLIC = {"/healthz", "/readyz", "/metrics"}


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator for `schema`, resolving `#/components/...` in `document`."""
    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:openapi", resource)
    return Draft202012Validator(
        {"$ref": "urn:openapi" + schema["$ref"]} if "$ref" in schema else schema,
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def _check(document: dict[str, Any], path: str, method: str, response: TestResponse) -> None:
    """Validate a real response against the schema the document gives for it."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (path, method, response.status_code)
    content = documented[str(response.status_code)].get("content")
    if content is None:
        assert response.get_data() == b""
        return
    (media_type, spec), *_ = content.items()
    assert response.content_type == media_type, (path, method)
    _validator(document, spec["schema"]).validate(response.get_json())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_is_valid_openapi_3_1_with_every_route(app: Flask) -> None:
    """The document validates as OpenAPI 3.1 and lists exactly the routes the API promises."""
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    document = response.get_json()

    validate(document)
    assert document["openapi"].startswith("3.1")
    assert {path: set(ops) for path, ops in document["paths"].items()} == ROUTES
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(set(operation_ids)) == len(operation_ids)
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op["tags"] and re.fullmatch(r"[a-z_]+", op["operationId"]), (path, method)
            secured = op.get("security", document["security"]) != []
            assert secured == (path not in PUBLIC), (path, method)
            if secured:
                assert "401" in op["responses"], (path, method)
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == {part[1:-1] for part in path.split("/") if part.startswith("{")}
    # Every route the app serves (but the document itself) is documented.
    served = {
        re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "ops.openapi")
        # The console's pages are HTML for browsers, not part of the API.
        and not rule.endpoint.startswith(("console.", "portal."))
    }
    assert served == set(ROUTES)


def test_real_responses_match_the_documented_schemas(
    client: FlaskClient, app: Flask, engine: Engine
) -> None:
    """Every kind of response the API gives validates against the document's schema for it."""
    document = client.get("/openapi.json").get_json()
    ep = "/v1/endpoints/{endpoint_id}"
    dlv = "/v1/deliveries/{delivery_id}"

    created = client.post(
        "/v1/endpoints",
        json={"url": "https://example.com/h", "rate_limit": 5, "metadata": {"k": "v"}},
    )
    _check(document, "/v1/endpoints", "post", created)
    endpoint_id = created.get_json()["id"]
    base = f"/v1/endpoints/{endpoint_id}"
    event = client.post("/v1/events", json={"type": "invoice.paid", "data": {"a": [1, {}]}})
    _check(document, "/v1/events", "post", event)
    delivery_id = event.get_json()["deliveries"][0]["id"]
    add_attempt(engine, delivery_id, 1, utcnow(), error="connection_error", status_code=None)
    since = (utcnow() - timedelta(hours=1)).isoformat()

    for path, method, real, body in [
        ("/v1/endpoints", "get", "/v1/endpoints", None),
        (ep, "get", base, None),
        (ep, "patch", base, {"description": "d", "rate_limit": None}),
        (f"{ep}/secret", "get", f"{base}/secret", None),
        (f"{ep}/secret/rotate", "post", f"{base}/secret/rotate", None),
        (f"{ep}/recover", "post", f"{base}/recover", {"since": since}),
        (f"{ep}/stats", "get", f"{base}/stats", None),
        ("/v1/events", "get", "/v1/events", None),
        ("/v1/events/{event_id}", "get", f"/v1/events/{event.get_json()['id']}", None),
        ("/v1/deliveries", "get", "/v1/deliveries", None),
        (dlv, "get", f"/v1/deliveries/{delivery_id}", None),
        (f"{dlv}/attempts", "get", f"/v1/deliveries/{delivery_id}/attempts", None),
        (f"{dlv}/retry", "post", f"/v1/deliveries/{delivery_id}/retry", None),
        ("/healthz", "get", "/healthz", None),
        ("/readyz", "get", "/readyz", None),
        ("/v1/event-types", "post", "/v1/event-types", {"name": "a.b", "schema": ORDER}),
        ("/v1/event-types", "get", "/v1/event-types?archived=true", None),
        ("/v1/event-types/{name}", "get", "/v1/event-types/a.b", None),
        ("/v1/event-types/{name}", "patch", "/v1/event-types/a.b", {"example": {"n": 1}}),
        ("/v1/portal-sessions", "post", "/v1/portal-sessions", {"tenant": "acme"}),
        ("/v1/event-types", "post", "/v1/event-types", {"name": "a.b"}),  # 409
        ("/v1/event-types", "post", "/v1/event-types", {"name": "c", "schema": {"type": 5}}),
        ("/v1/event-types/{name}", "patch", "/v1/event-types/a.b", {"example": {"n": "x"}}),
        ("/v1/event-types/{name}", "delete", "/v1/event-types/a.b", None),
        ("/v1/event-types/{name}", "get", "/v1/event-types/a.b", None),  # 404
        # Errors: problem documents, as documented for each route.
        ("/v1/endpoints", "post", "/v1/endpoints", {"url": "ftp://x"}),
        ("/v1/events", "post", "/v1/events", {"type": "a", "data": {}, "extra": 1}),
        (ep, "get", "/v1/endpoints/ep_01aaaaaaaaaaaaaaaaaaaaaaaa", None),
        ("/v1/deliveries", "get", "/v1/deliveries?status=nope", None),
        (f"{ep}/recover", "post", f"{base}/recover", {"since": "2000-01-01T00:00:00Z"}),
        (ep, "delete", base, None),
    ]:
        _check(document, path, method, getattr(client, method)(real, json=body))
    _check(document, "/v1/events", "get", app.test_client().get("/v1/events"))  # 401


ORDER = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

# Bodies whose validity the document can express, for each request schema.
BODIES: dict[tuple[str, str], list[Any]] = {
    ("/v1/endpoints", "post"): [
        {"url": "https://example.com/h"},
        {"url": "https://example.com/h", "rate_limit": None, "tenant": "t", "metadata": {}},
        {},
        {"url": ""},
        {"url": "https://example.com/h", "extra": 1},
        {"url": "https://example.com/h", "rate_limit": 0},
        {"url": "https://example.com/h", "rate_limit": "5"},
        {"url": "https://example.com/h", "rate_limit": True},
        {"url": "https://example.com/h", "metadata": {"a": 1}},
        {"url": "https://example.com/h", "description": "x" * 1025},
        {"url": "https://example.com/h", "event_types": "a"},
        {"url": "https://example.com/h", "tenant": "a b"},
        [],
    ],
    ("/v1/endpoints/{endpoint_id}", "patch"): [
        {},
        {"rate_limit": None},
        {"description": "x", "enabled": True},
        {"url": None},
        {"description": None},
        {"metadata": None},
        {"enabled": None},
        {"enabled": "yes"},
        {"rate_limit": 200_000},
        {"id": "x"},
    ],
    ("/v1/events", "post"): [
        {"type": "a", "data": {}},
        {"type": "a", "data": {"x": [1]}, "tenant": "t"},
        {"type": "a"},
        {"type": "a", "data": []},
        {"type": "a b", "data": {}},
        {"type": "a" * 129, "data": {}},
        {"type": "a", "data": {}, "x": 1},
        {"type": "a", "data": {}, "tenant": None},
    ],
    ("/v1/portal-sessions", "post"): [
        {"tenant": "acme"},
        {"tenant": "acme", "ttl_seconds": 60},
        {},
        {"tenant": "a b"},
        {"tenant": "acme", "ttl_seconds": 10},
        {"tenant": "acme", "ttl_seconds": "60"},
        {"tenant": "acme", "url": "x"},
    ],
    ("/v1/event-types/{name}", "patch"): [
        {},
        {"description": "d", "schema": None, "example": None},
        {"schema": {"type": "object"}, "archived": False},
        {"description": None},
        {"archived": None},
        {"archived": "no"},
        {"schema": []},
        {"name": "other"},
    ],
    ("/v1/endpoints/{endpoint_id}/recover", "post"): [
        {"since": (utcnow() - timedelta(hours=1)).isoformat()},
        {},
        {"since": "yesterday"},
        {"since": "2026-01-01T00:00:00"},
        {"since": 5},
    ],
}


def test_request_schemas_accept_exactly_what_the_api_accepts(client: FlaskClient) -> None:
    """Each request body the document allows, the API takes; each it forbids, the API refuses."""
    document = client.get("/openapi.json").get_json()
    endpoint_id = create_endpoint(client)["id"]
    assert client.post("/v1/event-types", json={"name": "invoice.paid"}).status_code == 201
    for (path, method), bodies in BODIES.items():
        media = document["paths"][path][method]["requestBody"]["content"]["application/json"]
        validator = _validator(document, media["schema"])
        for body in bodies:
            real = path.replace("{endpoint_id}", endpoint_id).replace("{name}", "invoice.paid")
            response = getattr(client, method)(real, json=body)
            accepted = response.status_code < 400
            assert accepted == validator.is_valid(body), (path, body, response.get_json())
            if not accepted:
                assert response.status_code == 422, (path, body)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_states_the_constraints_the_server_enforces(app: Flask) -> None:
    """The replay's 200, the Idempotency-Key's bounds, the URL's shape, 403 for key management."""
    document = app.test_client().get("/openapi.json").get_json()
    send = document["paths"]["/v1/events"]["post"]
    assert {"200", "202", "409"} <= set(send["responses"])
    (header,) = [p for p in send["parameters"] if p["name"] == "Idempotency-Key"]
    assert (header["schema"]["minLength"], header["schema"]["maxLength"]) == (1, 255)
    schemas = document["components"]["schemas"]
    url = schemas["EndpointCreate"]["properties"]["url"]
    assert url["maxLength"] == 2048 and url["pattern"].startswith("^https?://")
    assert "14 days" in schemas["RecoverIn"]["properties"]["since"]["description"]
    for ops in (document["paths"]["/v1/api-keys"], document["paths"]["/v1/api-keys/{key_id}"]):
        for op in ops.values():
            assert "403" in op["responses"]
    url_validator = Draft202012Validator(url)
    for good in ("https://example.com/h?x=1", "http://u:p@[2001:db8::1]:8443/", "https://a.b."):
        assert url_validator.is_valid(good), good
    for bad in ("https://exa mple.com/", "ftp://x/", "https://x:0/", "https://x/\u00e9"):
        assert not url_validator.is_valid(bad), bad


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_document_lists_the_servers_own_refusals(app: Flask) -> None:
    """408, 414 and 431 on every operation, 413 wherever a body is sent: problem documents."""
    document = app.test_client().get("/openapi.json").get_json()
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            expected = {"408", "414", "431"} | ({"413"} if "requestBody" in op else set())
            assert expected <= set(op["responses"]), (path, method)
            for status in expected:
                (media_type,) = op["responses"][status]["content"]
                assert media_type == "application/problem+json", (path, method, status)
