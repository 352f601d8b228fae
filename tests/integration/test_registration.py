"""Registration refuses what could never be delivered: blocked or unknown names, http if barred."""

import pytest
from flask.testing import FlaskClient

from tests.support.api import API_KEY, create_endpoint, keyed_client, other_app, problem
from webhooks.config import Settings


def _refused(client: FlaskClient, url: str) -> str:
    """POST an endpoint with `url`, and PATCH one to it: both 422 on url; return the message."""
    created = problem(client.post("/v1/endpoints", json={"url": url}), 422)
    assert [e["loc"] for e in created["errors"]] == [["url"]], url
    endpoint = create_endpoint(client, "https://example.com/ok")
    patched = problem(client.patch(f"/v1/endpoints/{endpoint['id']}", json={"url": url}), 422)
    assert patched["errors"] == created["errors"]
    message: str = created["errors"][0]["msg"]
    return message


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("http://loopback.test/hook", "loopback"),
        ("https://private.test:8443/hook", "private"),
        ("http://metadata.test/latest", "cloud metadata"),
        ("http://mixed.test/", "private"),  # one blocked answer blocks the name, as at send time
        ("http://localhost:9000/", "loopback"),
    ],
)
def test_names_resolving_to_blocked_addresses_are_refused(
    settings: Settings, url: str, named: str
) -> None:
    """A host name that resolves to an address the guard blocks: 422 naming its class."""
    with other_app(settings, allow_networks=()) as strict:
        message = _refused(keyed_client(strict, API_KEY), url)
    assert f"a {named} address" in message and "may not reach" in message


def test_names_that_do_not_resolve_are_refused_unless_allowed(
    client: FlaskClient, settings: Settings
) -> None:
    """An unknown name: 422 saying so; WEBHOOKS_ALLOW_UNRESOLVED_HOSTS lets internal names in."""
    message = _refused(client, "https://hooks.internal.invalid/in")
    assert "does not resolve" in message and "WEBHOOKS_ALLOW_UNRESOLVED_HOSTS" in message
    with other_app(settings, allow_unresolved_hosts=True) as lenient:
        created = create_endpoint(keyed_client(lenient, API_KEY), "https://hooks.internal.invalid/")
        assert created["url"] == "https://hooks.internal.invalid/"
        # Allowing unknown names never lets a blocked literal through.
        refused = problem(
            keyed_client(lenient, API_KEY).post("/v1/endpoints", json={"url": "http://10.0.0.1/"}),
            422,
        )
        assert "private" in refused["errors"][0]["msg"]


def test_require_https_refuses_http_urls(settings: Settings) -> None:
    """WEBHOOKS_REQUIRE_HTTPS: http:// is a 422 at create and update; https:// is fine."""
    with other_app(settings, require_https=True) as app:
        client = keyed_client(app, API_KEY)
        assert "must be https" in _refused(client, "http://example.com/hook")
        assert create_endpoint(client, "https://example.com/hook")
    assert Settings.from_env({"WEBHOOKS_REQUIRE_HTTPS": "true"}).require_https
    assert not Settings.from_env({}).require_https
