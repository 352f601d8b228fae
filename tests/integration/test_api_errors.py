"""Errors: every 4xx is a problem document, and no input, however nasty, gets a 500."""

import json

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import count, create_endpoint, problem, send_event

NASTY_BODIES: list[bytes | str] = [
    b"",
    b"\x00",
    b"\xff\xfe\xfd",
    b"\xef\xbb\xbf[]",  # a UTF-8 byte order mark
    "null",
    "true",
    "[]",
    '"string"',
    "1e999999",
    "-0",
    "{" * 50_000,
    "[" * 50_000 + "]" * 50_000,
    "[" * 900 + "]" * 900,
    '{"type": "a", "data": {"n": 1' + "0" * 5000 + "}}",  # past int parsing limits
    '{"a": ' * 2_000 + "1" + "}" * 2_000,
    '{"url": "https://example.com/", "url": "ftp://x"}',
    '{"type": "a", "data": {}, "__proto__": {}}',
    '{"type": "\\u0000", "data": {"\\u0000": "\\u0000"}}',
    '{"type": "a", "data": {"s": "\\ud83d\\ude00 \\udc00"}}',
    '{"url": "http://\\u0000.example.com/", "description": "\\u0000"}',
    '{"url": "https://example.com/", "metadata": {"\\u0000": "x", "k": "\\u0000"}}',
    '{"url": "https://example.com/", "event_types": ["\\u0000", null, {}]}',
    '{"url": "http://[::ffff:169.254.169.254]/", "secret": "whsec_\\u0000"}',
    '{"url": "http://xn--80ak6aa92e.com/", "rate_limit": 1e308}',
    '{"url": "https://example.com/", "rate_limit": 99999999999999999999999}',
    '{"url": "https://example.com/", "tenant": {"$ne": null}}',
    '{"since": "9999-99-99T99:99:99Z"}',
    '{"since": "0000-01-01T00:00:00Z"}',
    '{"since": "2026-01-01T00:00:00+25:00"}',
    '{"since": 1e400}',
    '{"enabled": "false", "rate_limit": -1}',
]


def test_unknown_route_and_wrong_method_are_problems(app: Flask, client: FlaskClient) -> None:
    """404 for a route that does not exist and 405 (with Allow) for a wrong method."""
    problem(app.test_client().get("/nope"), 404)
    problem(client.get("/v1/nope"), 404)
    problem(client.get("/v1/endpoints/ep_01aaaaaaaaaaaaaaaaaaaaaaaa/nope"), 404)
    for method, path in [
        ("put", "/v1/endpoints"),
        ("delete", "/v1/events"),
        ("patch", "/v1/deliveries"),
        ("post", "/healthz"),
        ("get", "/v1/deliveries/dlv_01aaaaaaaaaaaaaaaaaaaaaaaa/retry"),
    ]:
        response = getattr(client, method)(path)
        problem(response, 405)
        assert response.headers["Allow"], path


def test_nasty_bodies_never_get_a_500(client: FlaskClient, engine: Engine) -> None:
    """Every body route answers 400, 404 or 422 problems to junk, and stores none of it."""
    endpoint = create_endpoint(client)
    base = f"/v1/endpoints/{endpoint['id']}"
    (delivery,) = send_event(client).get_json()["deliveries"]
    routes = [
        ("post", "/v1/endpoints"),
        ("patch", base),
        ("post", "/v1/events"),
        ("post", f"{base}/recover"),
    ]
    for method, path in routes:
        for body in NASTY_BODIES:
            response = getattr(client, method)(path, data=body, content_type="application/json")
            assert response.status_code in (400, 422), (path, str(body)[:80], response.status_code)
            problem(response, response.status_code)
    # The same junk sent as a form or as text is refused too.
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = client.post("/v1/events", data="type=a&data=b", content_type=content_type)
        problem(response, 400)
    assert (count(engine, "endpoints"), count(engine, "events")) == (1, 1)
    after = client.get(base).get_json()
    assert after["url"] == endpoint["url"] and after["description"] == ""
    assert client.get(f"/v1/deliveries/{delivery['id']}").get_json()["status"] == "pending"


def test_nasty_paths_and_queries_never_get_a_500(client: FlaskClient) -> None:
    """Junk ids answer 404 and junk query values 422, on both databases."""
    create_endpoint(client)
    for junk in (
        "%00",
        "ep_%00",
        "a" * 5000,
        "..%2F..%2Fetc%2Fpasswd",
        "%F0%9F%98%80",
        "ep_01AAAAAAAAAAAAAAAAAAAAAAAA",
    ):
        for path in (
            f"/v1/endpoints/{junk}",
            f"/v1/endpoints/{junk}/stats",
            f"/v1/events/{junk}",
            f"/v1/deliveries/{junk}",
            f"/v1/deliveries/{junk}/attempts",
        ):
            problem(client.get(path), 404)
    for query in (
        "limit=1e400",
        "limit=99999999999999999999999",
        "limit=%00",
        "cursor=%00",
        "cursor=ep_" + "z" * 5000,
        "tenant=%00",
        "tenant=" + "t" * 129,
        "enabled=%00",
        "type=%00",
        "endpoint_id=%00",
        "event_id=" + "e" * 100_000,
        "status=%00",
        "limit=1&limit=2&limit=x",
    ):
        for route in ("/v1/endpoints", "/v1/events", "/v1/deliveries"):
            response = client.get(f"{route}?{query}")
            assert response.status_code in (200, 422), (route, query[:60], response.status_code)
            if response.status_code == 422:
                problem(response, 422)
    response = client.get("/v1/endpoints", headers={"Idempotency-Key": "\x7f"})
    assert response.status_code == 200
    assert json.loads(response.get_data())["data"]
