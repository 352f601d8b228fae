"""Through the egress proxy: the proxy is asked for the checked address, never for the name."""

import base64
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from tests.integration.sender import BODY, NAME, pin_name
from tests.support.connectproxy import ConnectProxy
from tests.support.receiver import Receiver, Reply
from tests.support.tlsserver import TLSServer
from webhooks.delivery.egress import EgressProxy
from webhooks.delivery.sender import Sender
from webhooks.security.guard import NetworkGuard
from webhooks.security.signing import generate_secret, webhook_headers

# Receivers on 127.0.0.1 may be reached; the proxy on 127.0.0.3 is, to the guard, a blocked
# loopback address: the operator's proxy is reached all the same.
ONLY_RECEIVERS = NetworkGuard([ipaddress.ip_network("127.0.0.1/32")])


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    """A CONNECT proxy on 127.0.0.3 that records the tunnels asked of it."""
    proxy = ConnectProxy("127.0.0.3")
    yield proxy
    proxy.close()


def _sender(proxy: ConnectProxy, ca_bundle: str | None = None) -> Sender:
    return Sender(ONLY_RECEIVERS, 2.0, "webhooks/test", ca_bundle, EgressProxy.from_url(proxy.url))


def test_http_delivery_tunnels_to_the_checked_address(
    monkeypatch: pytest.MonkeyPatch, proxy: ConnectProxy, receiver: Receiver, hook: str
) -> None:
    """The proxy is asked for 127.0.0.1, not the name; the receiver gets a valid signature."""
    lookups = pin_name(monkeypatch, "127.0.0.1")
    secret = generate_secret()
    headers = {"content-type": "application/json", **webhook_headers([secret], "evt_1", BODY)}
    receiver.script(hook, Reply(200, b"through"))

    response = _sender(proxy).send(f"http://{NAME}:{receiver.port}{hook}", headers, BODY)

    assert (response.status_code, response.body, response.error) == (200, "through", None)
    assert proxy.targets == [f"127.0.0.1:{receiver.port}"]
    (request,) = receiver.received(hook)
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    Webhook(secret).verify(request.body, request.headers)  # raises if the signature is wrong
    assert lookups.count(NAME) == 1


def test_https_through_the_tunnel_keeps_sni_and_the_certificate_check(
    monkeypatch: pytest.MonkeyPatch,
    proxy: ConnectProxy,
    tls_server: TLSServer,
    certificate: tuple[Path, Path],
) -> None:
    """TLS runs end to end inside the tunnel, for the URL's name, while the proxy sees an IP."""
    pin_name(monkeypatch, "127.0.0.1")
    sender = _sender(proxy, ca_bundle=str(certificate[0]))

    response = sender.send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.body, response.error) == (200, "secure", None)
    assert proxy.targets == [f"127.0.0.1:{tls_server.port}"]
    assert tls_server.server_names == [NAME]
    assert tls_server.requests[0]["host"] == f"{NAME}:{tls_server.port}"


def test_untrusted_certificate_through_the_tunnel_is_tls_error(
    monkeypatch: pytest.MonkeyPatch, proxy: ConnectProxy, tls_server: TLSServer
) -> None:
    """The proxy changes nothing about trust: a self-signed certificate is still refused."""
    pin_name(monkeypatch, "127.0.0.1")
    response = _sender(proxy).send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)
    assert (response.status_code, response.error) == (None, "tls_error")
    assert tls_server.requests == []


def test_blocked_name_never_reaches_the_proxy(
    monkeypatch: pytest.MonkeyPatch, proxy: ConnectProxy
) -> None:
    """A name resolving to a private address is refused before any tunnel is asked for."""
    pin_name(monkeypatch, "10.0.0.1")
    response = _sender(proxy).send(f"http://{NAME}/hook", {}, BODY)
    assert (response.status_code, response.error) == (None, "blocked_address")
    assert proxy.targets == []


def test_tunnel_is_kept_alive_and_credentials_go_to_the_proxy(
    proxy: ConnectProxy, receiver: Receiver, hook: str
) -> None:
    """Proxy credentials travel as Proxy-Authorization; two sends share one tunnel."""
    parts = proxy.url.partition("//")
    sender = Sender(
        ONLY_RECEIVERS,
        2.0,
        "webhooks/test",
        proxy=EgressProxy.from_url(f"{parts[0]}//egress:pa%40ss@{parts[2]}"),
    )
    for _ in range(2):
        response = sender.send(receiver.url(hook), {}, BODY)
        assert (response.status_code, response.error) == (200, None)

    assert proxy.targets == [f"127.0.0.1:{receiver.port}"]
    token = base64.b64encode(b"egress:pa@ss").decode()
    assert proxy.headers[0]["proxy-authorization"] == f"Basic {token}"
    assert all("proxy-authorization" not in r.headers for r in receiver.received(hook))


def test_proxy_refusing_the_tunnel_is_connection_error(receiver: Receiver, hook: str) -> None:
    """A proxy that answers 403 to CONNECT: connection_error, and the receiver saw nothing."""
    refusing = ConnectProxy("127.0.0.3", status=403)
    try:
        response = _sender(refusing).send(receiver.url(hook), {}, BODY)
    finally:
        refusing.close()
    assert (response.status_code, response.body, response.error) == (None, None, "connection_error")
    assert refusing.targets == [f"127.0.0.1:{receiver.port}"]
    assert receiver.received(hook) == []
