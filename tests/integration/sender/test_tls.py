"""HTTPS attempts against a local TLS server: untrusted certificates fail, pinning keeps SNI."""

import socket
import time
from pathlib import Path

import pytest

from tests.integration.sender import BODY, LOOPBACK, NAME, pin_name
from tests.support.rawserver import RawServer
from tests.support.receiver import Receiver
from tests.support.tlsserver import TLSServer
from webhooks.delivery.sender import Sender


def test_self_signed_certificate_is_tls_error(tls_server: TLSServer) -> None:
    """A receiver whose certificate no public CA signed fails with tls_error, nothing sent."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    response = sender.send(f"https://127.0.0.1:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.body, response.error) == (None, None, "tls_error")
    assert tls_server.requests == []


def test_self_signed_certificate_under_its_name_is_tls_error(
    monkeypatch: pytest.MonkeyPatch, tls_server: TLSServer
) -> None:
    """Even under the name it was issued for, an untrusted certificate is refused."""
    pin_name(monkeypatch, "127.0.0.1")
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    response = sender.send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.error) == (None, "tls_error")
    assert tls_server.requests == []


def test_pinned_https_verifies_the_real_name(
    monkeypatch: pytest.MonkeyPatch, tls_server: TLSServer, certificate: tuple[Path, Path]
) -> None:
    """Connecting to the checked address, TLS still sends SNI and checks the URL's host name."""
    lookups = pin_name(monkeypatch, "127.0.0.1")
    sender = Sender(LOOPBACK, 2.0, "webhooks/test", ca_bundle=str(certificate[0]))

    response = sender.send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.body, response.error) == (200, "secure", None)
    assert tls_server.server_names == [NAME]
    assert tls_server.requests[0]["host"] == f"{NAME}:{tls_server.port}"
    assert lookups.count(NAME) == 1


def test_trusted_certificate_for_another_name_is_tls_error(
    tls_server: TLSServer, certificate: tuple[Path, Path]
) -> None:
    """A trusted certificate that doesn't name the host dialled is refused (no IP SAN here)."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test", ca_bundle=str(certificate[0]))
    response = sender.send(f"https://127.0.0.1:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.error) == (None, "tls_error")
    assert tls_server.requests == []


def test_https_to_a_plain_http_port_is_tls_error(receiver: Receiver) -> None:
    """Speaking TLS to a server that answers in plain HTTP fails as tls_error."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    response = sender.send(f"https://127.0.0.1:{receiver.port}/hook", {}, BODY)
    assert (response.status_code, response.error) == (None, "tls_error")


def _drip_handshake(server: RawServer, conn: socket.socket) -> None:
    conn.recv(65536)  # the ClientHello
    while not server.closed.is_set():
        conn.sendall(b"\x16")  # a TLS record header that never completes, a byte at a time
        time.sleep(0.3)


def test_handshake_dripped_forever_times_out() -> None:
    """A server that stalls the TLS handshake byte by byte is cut off at the timeout."""
    server = RawServer(_drip_handshake)
    try:
        started = time.monotonic()
        response = Sender(LOOPBACK, 1.0, "webhooks/test").send(
            f"https://127.0.0.1:{server.port}/hook", {}, BODY
        )
        took = time.monotonic() - started
    finally:
        server.close()
    assert (response.status_code, response.error) == (None, "timeout")
    assert took < 2.0
