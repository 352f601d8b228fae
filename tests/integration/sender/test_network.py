"""The sender's network side against real sockets: DNS, the guard, pinning, keep-alive, auth."""

import base64
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.sender import BODY, LOOPBACK
from tests.support.rawserver import RawServer, answer_ok
from tests.support.receiver import Receiver, Reply
from webhooks.delivery.sender import Sender
from webhooks.security.guard import NetworkGuard

HEADERS = {"content-type": "application/json"}
NAME = "hooks.example.test"


@pytest.fixture
def server() -> Iterator[RawServer]:
    """A keep-alive HTTP server that counts the connections it accepts."""
    server = RawServer(answer_ok)
    yield server
    server.close()


class Resolver:
    """Stand-in for socket.getaddrinfo: scripted answers for NAME, the real thing otherwise."""

    def __init__(self, real: Callable[..., Any], *answers: list[str]) -> None:
        self.real = real
        self.answers = list(answers)  # one list per lookup of NAME; the last repeats
        self.lookups: list[str] = []  # names looked up in DNS

    def __call__(self, host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:  # a literal? No DNS: the real answer
            return self.real(host, port, *args, **kwargs)
        self.lookups.append(host)
        if host != NAME:
            return self.real(host, port, *args, **kwargs)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in answer]


def _resolver(monkeypatch: pytest.MonkeyPatch, *answers: list[str]) -> Resolver:
    resolver = Resolver(socket.getaddrinfo, *answers)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


def test_name_that_does_not_resolve_is_dns_error() -> None:
    """A name under `.invalid` never resolves: dns_error, no response."""
    response = Sender(LOOPBACK, 2.0, "webhooks/test").send("http://hooks.invalid/", HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (None, None, "dns_error")


def test_blocked_address_is_refused_before_connecting(server: RawServer) -> None:
    """Without an allow list loopback is blocked_address, and the server sees no connection."""
    response = Sender(NetworkGuard(), 2.0, "webhooks/test").send(server.url(), HEADERS, BODY)

    assert (response.status_code, response.body, response.error) == (None, None, "blocked_address")
    assert server.connections_before_fence() == 0


def test_connection_goes_to_the_checked_address_not_a_second_lookup(
    monkeypatch: pytest.MonkeyPatch, receiver: Receiver, hook: str
) -> None:
    """DNS rebinding: the name answers 127.0.0.1 when checked, 10.0.0.1 ever after.

    The request must reach 127.0.0.1 with the real Host header, and the name is looked up
    exactly once per attempt, so the second attempt's answer is checked (and blocked).
    """
    resolver = _resolver(monkeypatch, ["127.0.0.1"], ["10.0.0.1"])
    receiver.script(hook, Reply(200, b"pinned"))
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")

    first = sender.send(f"http://{NAME}:{receiver.port}{hook}", HEADERS, BODY)
    assert (first.status_code, first.body, first.error) == (200, "pinned", None)
    (request,) = receiver.received(hook)
    assert request.headers["host"] == f"{NAME}:{receiver.port}"
    assert resolver.lookups.count(NAME) == 1
    # Anything else looked up was the pinned literal, never the name again.
    assert set(resolver.lookups) <= {NAME, "127.0.0.1"}

    second = sender.send(f"http://{NAME}:{receiver.port}{hook}", HEADERS, BODY)
    assert (second.status_code, second.error) == (None, "blocked_address")
    assert resolver.lookups.count(NAME) == 2
    assert len(receiver.received(hook)) == 1


def test_name_resolving_to_public_and_loopback_is_blocked(
    monkeypatch: pytest.MonkeyPatch, server: RawServer
) -> None:
    """A record set mixing a public address and 127.0.0.1 is refused as a whole."""
    _resolver(monkeypatch, ["93.184.216.34", "127.0.0.1"])
    sender = Sender(NetworkGuard(), 2.0, "webhooks/test")

    response = sender.send(f"http://{NAME}:{server.port}/hook", HEADERS, BODY)

    assert (response.status_code, response.body, response.error) == (None, None, "blocked_address")
    assert server.connections_before_fence() == 0


def test_second_address_is_tried_when_the_first_refuses(
    monkeypatch: pytest.MonkeyPatch, server: RawServer
) -> None:
    """A name with two addresses is still delivered when the first one refuses connections."""
    _resolver(monkeypatch, ["127.0.0.2", "127.0.0.1"])  # nothing listens on 127.0.0.2
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")

    response = sender.send(f"http://{NAME}:{server.port}/hook", HEADERS, BODY)

    assert (response.status_code, response.body, response.error) == (200, "ok", None)
    assert len(server.requests) == 1


def test_keep_alive_reuses_one_connection(server: RawServer) -> None:
    """Two sends to the same receiver from one thread share one TCP connection."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    for _ in range(3):
        response = sender.send(server.url(), HEADERS, BODY)
        assert (response.status_code, response.body, response.error) == (200, "ok", None)

    assert len(server.requests) == 3
    assert server.connections_before_fence() == 1


def test_keep_alive_is_per_thread(server: RawServer) -> None:
    """Another thread gets its own connection (a Session is not shared across threads)."""
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")
    sender.send(server.url(), HEADERS, BODY)
    other = threading.Thread(target=sender.send, args=(server.url(), HEADERS, BODY))
    other.start()
    other.join(timeout=10)
    sender.send(server.url(), HEADERS, BODY)

    assert len(server.requests) == 3
    assert server.connections_before_fence() == 2


def test_userinfo_becomes_basic_auth_and_never_reaches_the_logs(
    receiver: Receiver, hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`user:pa%40ss@` is sent as Basic auth (decoded), and no log line carries it."""
    caplog.set_level(logging.DEBUG)
    # The API sets the service's own loggers to WEBHOOKS_LOG_LEVEL: a test before may have.
    caplog.set_level(logging.DEBUG, logger="webhooks")
    token = base64.b64encode(b"user:pa@ss").decode()
    receiver.script(hook, Reply(200, b"ok"))
    sender = Sender(LOOPBACK, 2.0, "webhooks/test")

    response = sender.send(f"http://user:pa%40ss@127.0.0.1:{receiver.port}{hook}", HEADERS, BODY)
    # A failing attempt with credentials logs too: none of it may carry them.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        refused = probe.getsockname()[1]
    failed = sender.send(f"http://user:pa%40ss@127.0.0.1:{refused}/hook", HEADERS, BODY)

    assert (response.status_code, response.error) == (200, None)
    assert failed.error == "connection_error"
    (request,) = receiver.received(hook)
    assert request.headers["authorization"] == f"Basic {token}"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"  # no userinfo in Host
    assert caplog.records, "the sender logs each attempt at DEBUG: the check below means something"
    logged = "\n".join(_rendered(record) for record in caplog.records)
    for secret in ("pa@ss", "pa%40ss", "user:", token):
        assert secret not in logged


def _rendered(record: logging.LogRecord) -> str:
    """Everything a handler could write for a record: message, exception, stack."""
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.stack_info or "")
