"""Custom headers per endpoint: kept sealed, shown masked, replaced, cleared; bad ones refused."""

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import create_endpoint, get_endpoint, invalid, json_body, row

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def test_headers_are_kept_shown_replaced_and_cleared(client: FlaskClient, engine: Engine) -> None:
    """Create with headers, see their names (values masked), PATCH replaces the map, {} clears."""
    created = create_endpoint(client, headers={"Authorization": "Bearer rk_1", "X-Tenant": "t1"})
    assert created["headers"] == {"Authorization": "***", "X-Tenant": "***"}
    assert get_endpoint(client, created["id"])["headers"] == created["headers"]
    # The values are sealed at rest: no row holds them in clear.
    stored = row(engine, "endpoints", created["id"])
    assert stored["headers"].startswith("sealed:")
    assert "rk_1" not in str(stored) and "t1" not in str(stored["headers"])

    path = f"/v1/endpoints/{created['id']}"
    replaced = json_body(client.patch(path, json={"headers": {"X-Other": "2"}}))
    assert replaced["headers"] == {"X-Other": "***"}
    assert json_body(client.patch(path, json={"description": "kept"}))["headers"] == {
        "X-Other": "***"
    }
    assert json_body(client.patch(path, json={"headers": {}}))["headers"] == {}
    assert row(engine, "endpoints", created["id"])["headers"] is None
    assert create_endpoint(client)["headers"] == {}


@pytest.mark.parametrize(
    "name",
    ["webhook-id", "Webhook-Signature", "Host", "content-length", "Content-Type", "Connection",
     "Transfer-Encoding", "Upgrade", "TE", "Keep-Alive", "Proxy-Authorization", "User-Agent",
     "traceparent"],
)  # fmt: skip
def test_reserved_names_get_422(client: FlaskClient, name: str) -> None:
    """Names the service, the HTTP client or a proxy owns are refused, naming the header."""
    response = client.post(
        "/v1/endpoints", json={"url": "https://example.com/hook", "headers": {name: "x"}}
    )
    assert invalid(response) == [["headers", name]]


def test_malformed_headers_get_422(client: FlaskClient) -> None:
    """Bad names, injected line breaks, too many headers, the same name twice, nulls."""
    url = "https://example.com/hook"
    for headers, loc in (
        ({"X Bad": "1"}, ["headers", "X Bad"]),
        ({"X-Ok": "a\r\nX-Injected: 1"}, ["headers", "X-Ok"]),
        ({"X-Ok": " padded "}, ["headers", "X-Ok"]),
        ({"X-Ok": "caf\u00e9"}, ["headers", "X-Ok"]),
        ({"X-Dup": "1", "x-dup": "2"}, ["headers", "x-dup"]),
        ({f"X-H{n}": "v" for n in range(21)}, ["headers"]),
    ):
        response = client.post("/v1/endpoints", json={"url": url, "headers": headers})
        assert loc in invalid(response), headers
    assert invalid(client.post("/v1/endpoints", json={"url": url, "headers": {"X": 1}}))
    endpoint = create_endpoint(client)
    assert invalid(client.patch(f"/v1/endpoints/{endpoint['id']}", json={"headers": None})) == [
        ["headers"]
    ]
    twenty = {f"X-H{n}": "v" for n in range(20)}
    assert create_endpoint(client, headers=twenty)["headers"] == dict.fromkeys(twenty, "***")
