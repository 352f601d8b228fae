"""Endpoints: create with defaults and URL rules, read, list with filters and pages."""

import base64
import re
from typing import Any

from flask.testing import FlaskClient

from tests.support.api import (
    API_KEY,
    ENDPOINT_FIELDS,
    RFC3339,
    SECRET,
    create_endpoint,
    invalid,
    keyed_client,
    other_app,
    problem,
)
from webhooks.config import Settings
from webhooks.times import utcnow


def test_create_with_only_a_url_has_the_documented_defaults(client: FlaskClient) -> None:
    """201 with exactly the endpoint object the API promises plus a generated `whsec_` secret."""
    response = client.post("/v1/endpoints", json={"url": "https://example.com/hook"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == ENDPOINT_FIELDS | {"secret"}
    assert re.fullmatch(r"ep_[0-9a-z]{26}", body["id"])
    expected = {
        "url": "https://example.com/hook",
        "event_types": [],
        "tenant": "default",
        "description": "",
        "enabled": True,
        "disabled_reason": None,
        "rate_limit": None,
        "max_in_flight": None,
        "metadata": {},
        "signature_scheme": "hmac-sha256",
        "public_key": None,
    }
    assert {k: body[k] for k in expected} == expected
    assert re.fullmatch(RFC3339, body["created_at"]) and body["updated_at"] == body["created_at"]
    assert body["secret"].startswith("whsec_")
    assert 24 <= len(base64.b64decode(body["secret"][6:], validate=True)) <= 64
    # Every endpoint gets its own secret.
    assert create_endpoint(client)["secret"] != body["secret"]


def test_create_with_every_field(client: FlaskClient) -> None:
    """Every creatable field is stored as given, the secret included."""
    fields: dict[str, Any] = {
        "url": "https://example.com/billing?x=1",
        "event_types": ["invoice.paid", "customer.*"],
        "tenant": "acme",
        "description": "billing",
        "secret": SECRET,
        "rate_limit": 50,
        "max_in_flight": 3,
        "metadata": {"team": "x"},
    }
    created = create_endpoint(client, **fields)

    assert {k: created[k] for k in fields} == fields
    fetched = client.get(f"/v1/endpoints/{created['id']}").get_json()
    assert fetched == {k: v for k, v in created.items() if k != "secret"}
    assert client.get(f"/v1/endpoints/{created['id']}/secret").get_json()["secret"] == SECRET


def test_secret_never_appears_in_get_or_list(client: FlaskClient) -> None:
    """GET and list responses carry no secret, under any name."""
    created = create_endpoint(client, secret=SECRET)
    for path in (f"/v1/endpoints/{created['id']}", "/v1/endpoints"):
        response = client.get(path)
        assert response.status_code == 200
        assert SECRET[6:] not in response.get_data(as_text=True)
        assert "secret" not in response.get_data(as_text=True)
    (listed,) = client.get("/v1/endpoints").get_json()["data"]
    assert set(listed) == ENDPOINT_FIELDS


def test_url_rules(client: FlaskClient, settings: Settings) -> None:
    """Not http(s), too long, malformed, or a private, loopback or metadata literal: 422 on url."""
    long_url = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
    refused = [
        "ftp://example.com/hook",
        "example.com/hook",
        "https://",
        "http:///path",
        "javascript:alert(1)",
        "http://[::1",
        "http://example.com:99999/",
        "http://exa mple.com/",
        "http://example.com/\nHost: evil",
        long_url + "a",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0/",
        "http://[::]/",
    ]
    for url in refused:
        assert invalid(client.post("/v1/endpoints", json={"url": url})) == [["url"]], url
    assert create_endpoint(client, url=long_url)["url"] == long_url

    # Loopback is open in the test settings (WEBHOOKS_ALLOW_NETWORKS); closed without the list.
    assert create_endpoint(client, url="http://127.0.0.1:9/hook")
    with other_app(settings, allow_networks=()) as strict:
        guarded = keyed_client(strict, API_KEY)
        for url in (
            "http://127.0.0.1/hook",
            "http://localhost:8080/",
            "http://[::1]/",
            "http://2130706433/",
        ):
            body = problem(guarded.post("/v1/endpoints", json={"url": url}), 422)
            assert body["errors"][0]["loc"] == ["url"], url
        assert create_endpoint(guarded, url="https://93.184.215.14/hook")


def test_invalid_fields(client: FlaskClient) -> None:
    """Bad event type filters, secrets, unknown fields and wrong types: 422 naming the field."""
    url = "https://example.com/hook"
    cases: list[tuple[dict[str, Any], list[str | int]]] = [
        ({}, ["url"]),
        ({"url": ""}, ["url"]),
        ({"url": 42}, ["url"]),
        ({"url": url, "event_types": "invoice.paid"}, ["event_types"]),
        ({"url": url, "event_types": ["invoice.**"]}, ["event_types", 0]),
        ({"url": url, "event_types": ["ok", "*"]}, ["event_types", 1]),
        ({"url": url, "event_types": ["a b"]}, ["event_types", 0]),
        ({"url": url, "event_types": [""]}, ["event_types", 0]),
        ({"url": url, "event_types": ["a" * 129]}, ["event_types", 0]),
        ({"url": url, "event_types": [7]}, ["event_types", 0]),
        ({"url": url, "secret": "hunter2"}, ["secret"]),
        ({"url": url, "secret": "whsec_not base64!"}, ["secret"]),
        ({"url": url, "secret": "whsec_" + base64.b64encode(b"x" * 16).decode()}, ["secret"]),
        ({"url": url, "secret": "whsec_" + base64.b64encode(b"x" * 65).decode()}, ["secret"]),
        ({"url": url, "rate_limit": 0}, ["rate_limit"]),
        ({"url": url, "rate_limit": "5"}, ["rate_limit"]),
        ({"url": url, "rate_limit": True}, ["rate_limit"]),
        ({"url": url, "rate_limit": 1.5}, ["rate_limit"]),
        ({"url": url, "max_in_flight": 0}, ["max_in_flight"]),
        ({"url": url, "max_in_flight": 1001}, ["max_in_flight"]),
        ({"url": url, "max_in_flight": "5"}, ["max_in_flight"]),
        ({"url": url, "tenant": "two words"}, ["tenant"]),
        ({"url": url, "tenant": ""}, ["tenant"]),
        ({"url": url, "description": "x" * 1025}, ["description"]),
        ({"url": url, "description": "nul\x00byte"}, ["description"]),
        ({"url": url, "metadata": {"team": 1}}, ["metadata", "team"]),
        ({"url": url, "metadata": ["team"]}, ["metadata"]),
        ({"url": url, "enabled": False}, ["enabled"]),  # not a creatable field
        ({"url": url, "secrets": SECRET}, ["secrets"]),
    ]
    for body, loc in cases:
        assert invalid(client.post("/v1/endpoints", json=body)) == [loc], body
    assert client.get("/v1/endpoints").get_json()["data"] == []


def test_list_filters_by_tenant_and_enabled(client: FlaskClient) -> None:
    """`tenant` and `enabled` narrow the list; deleted endpoints never appear."""
    a = create_endpoint(client, tenant="acme")
    b = create_endpoint(client, tenant="acme")
    c = create_endpoint(client)
    gone = create_endpoint(client, tenant="acme")
    client.patch(f"/v1/endpoints/{b['id']}", json={"enabled": False})
    assert client.delete(f"/v1/endpoints/{gone['id']}").status_code == 204

    def ids(query: str) -> list[str]:
        response = client.get(f"/v1/endpoints{query}")
        assert response.status_code == 200
        return [e["id"] for e in response.get_json()["data"]]

    assert ids("") == sorted([a["id"], b["id"], c["id"]], reverse=True)  # newest first
    assert ids("?tenant=acme") == sorted([a["id"], b["id"]], reverse=True)
    assert ids("?tenant=nobody") == []
    assert ids("?enabled=false") == [b["id"]]
    assert ids("?enabled=true&tenant=acme") == [a["id"]]
    assert invalid(client.get("/v1/endpoints?enabled=maybe")) == [["query", "enabled"]]
    assert invalid(client.get("/v1/endpoints?tenant=a%20b")) == [["query", "tenant"]]


def test_list_pages_newest_first(client: FlaskClient) -> None:
    """Cursor pages cover every endpoint once, newest first; the last page has no cursor."""
    created = [create_endpoint(client, description=str(n))["id"] for n in range(5)]

    seen: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/endpoints{query}").get_json()
        seen += page["data"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and [len(p) for p in (seen[:2], seen[2:4], seen[4:])] == [2, 2, 1]
    assert sorted(e["id"] for e in seen) == sorted(created)
    # Newest first: ids sort by creation time (to the millisecond, see webhooks/ids.py).
    assert [e["id"] for e in seen] == sorted(created, reverse=True)
    # A page that ends exactly at the last item has no next cursor either.
    assert client.get("/v1/endpoints?limit=5").get_json()["next_cursor"] is None


def test_list_limit_default_and_bounds(client: FlaskClient) -> None:
    """The default page is 50; limit must be 1..250 and the cursor an id, else 422."""
    for _ in range(51):
        create_endpoint(client)
    default = client.get("/v1/endpoints").get_json()
    assert len(default["data"]) == 50 and default["next_cursor"] is not None
    rest = client.get(f"/v1/endpoints?cursor={default['next_cursor']}").get_json()
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    assert len(client.get("/v1/endpoints?limit=250").get_json()["data"]) == 51
    assert len(client.get("/v1/endpoints?limit=1").get_json()["data"]) == 1
    for limit in ("0", "251", "-1", "ten", "1.5", ""):
        assert invalid(client.get(f"/v1/endpoints?limit={limit}")) == [["query", "limit"]]
    for cursor in ("nope", "ep_", "' OR 1=1 --", "%00"):
        assert invalid(client.get(f"/v1/endpoints?cursor={cursor}")) == [["query", "cursor"]]
    assert invalid(client.get("/v1/endpoints?colour=red")) == [["query", "colour"]]


def test_unknown_endpoint_is_404(client: FlaskClient) -> None:
    """Every endpoint route answers 404 for an id that does not exist or is not an id."""
    for endpoint_id in ("ep_01aaaaaaaaaaaaaaaaaaaaaaaa", "nope", "evt_01aaaaaaaaaaaaaaaaaaaaaaaa"):
        path = f"/v1/endpoints/{endpoint_id}"
        for method, suffix, body in [
            ("get", "", None),
            ("patch", "", {"description": "x"}),
            ("delete", "", None),
            ("get", "/secret", None),
            ("post", "/secret/rotate", None),
            ("post", "/recover", {"since": utcnow().isoformat()}),
            ("get", "/stats", None),
        ]:
            problem(getattr(client, method)(path + suffix, json=body), 404)
