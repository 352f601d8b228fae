"""HTTPS attempts against a local TLS server: untrusted certificates fail, pinning keeps SNI."""

import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.integration.sender import BODY, LOOPBACK
from tests.support.rawserver import RawServer
from tests.support.receiver import Receiver
from webhooks.delivery.sender import Sender

NAME = "hooks.example.test"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for NAME only, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        f" -subj /CN={NAME} -addext subjectAltName=DNS:{NAME}"
    ).split()
    subprocess.run([*command, "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


class _QuietServer(ThreadingHTTPServer):
    """An HTTP server that keeps quiet about handshakes the client refused (the point here)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class TLSServer:
    """An HTTPS server on 127.0.0.1 that answers 200 `secure` and notes each SNI name."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.server_names: list[str | None] = []
        self.requests: list[dict[str, str]] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = self._note_sni
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        # Handshake in the handler's thread: a client that rejects us must not stall accept().
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _note_sni(self, sock: Any, server_name: str | None, context: Any) -> None:
        self.server_names.append(server_name)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError):
                    self.request.close()
                    raise
                super().setup()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                server.requests.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(200)
                self.send_header("content-length", "6")
                self.end_headers()
                self.wfile.write(b"secure")

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[TLSServer]:
    """A running HTTPS server with the self-signed certificate."""
    server = TLSServer(*certificate)
    yield server
    server.close()


def _pin(monkeypatch: pytest.MonkeyPatch, address: str) -> list[str]:
    """Make NAME resolve to `address`; return the names looked up in DNS."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:  # a literal? No DNS: the real answer
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        if host == NAME:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


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
    _pin(monkeypatch, "127.0.0.1")
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    response = sender.send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.error) == (None, "tls_error")
    assert tls_server.requests == []


def test_pinned_https_verifies_the_real_name(
    monkeypatch: pytest.MonkeyPatch, tls_server: TLSServer, certificate: tuple[Path, Path]
) -> None:
    """Connecting to the checked address, TLS still sends SNI and checks the URL's host name."""
    lookups = _pin(monkeypatch, "127.0.0.1")
    sender = Sender(LOOPBACK, 2.0, "webhooks/test", verify=str(certificate[0]))

    response = sender.send(f"https://{NAME}:{tls_server.port}/hook", {}, BODY)

    assert (response.status_code, response.body, response.error) == (200, "secure", None)
    assert tls_server.server_names == [NAME]
    assert tls_server.requests[0]["host"] == f"{NAME}:{tls_server.port}"
    assert lookups.count(NAME) == 1


def test_trusted_certificate_for_another_name_is_tls_error(
    tls_server: TLSServer, certificate: tuple[Path, Path]
) -> None:
    """A trusted certificate that doesn't name the host dialled is refused (no IP SAN here)."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test", verify=str(certificate[0]))
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
