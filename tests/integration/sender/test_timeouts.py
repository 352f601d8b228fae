"""Receivers that stall or never stop talking: every attempt ends within its timeout."""

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from tests.integration.sender import BODY, TIMEOUT
from tests.support.rawserver import RawServer, answer_ok, never_answer, read_request
from tests.support.receiver import Receiver, Reply
from webhooks.delivery.sender import Response, Sender

SLACK = 1.0  # what "returns within the timeout" may overrun on a busy machine
HEADERS = {"content-type": "application/json"}


@pytest.fixture
def silent() -> Iterator[RawServer]:
    """A server that takes the request and never answers."""
    server = RawServer(never_answer)
    yield server
    server.close()


def _timed_send(sender: Sender, url: str) -> tuple[Response, float]:
    started = time.monotonic()
    response = sender.send(url, HEADERS, BODY)
    return response, time.monotonic() - started


def test_receiver_that_never_answers_times_out(sender: Sender, silent: RawServer) -> None:
    """A receiver holding the request open: timeout, within the timeout plus a little."""
    response, took = _timed_send(sender, silent.url())
    assert (response.status_code, response.body, response.error) == (None, None, "timeout")
    assert TIMEOUT * 0.9 <= took < TIMEOUT + SLACK
    assert len(silent.requests) == 1  # it was sent; it just got no answer


def test_headers_dribbled_forever_time_out(sender: Sender, receiver: Receiver, hook: str) -> None:
    """A status line then one header byte every 0.3 s never trips a read timeout, yet we stop.

    Nor does the truncated header block pass for an answer: it is a timeout, not a 200.
    """
    receiver.script(hook, Reply(action="dribble", delay=0.3))
    response, took = _timed_send(sender, receiver.url(hook))
    assert (response.status_code, response.body, response.error) == (None, None, "timeout")
    assert took < TIMEOUT + SLACK


def test_body_that_never_ends_is_cut_at_the_limit(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A chunked body that never ends: the 200 counts, 4096 bytes are kept, no waiting for more."""
    receiver.script(hook, Reply(action="endless"))
    response, took = _timed_send(sender, receiver.url(hook))
    assert (response.status_code, response.body, response.error) == (200, "x" * 4096, None)
    assert took < TIMEOUT


def _redirect_with_endless_body(server: RawServer, conn: socket.socket) -> None:
    read_request(server, conn)
    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: /else\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"y" * 65536
    while not server.closed.is_set():
        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))


def test_redirect_with_endless_body_is_cut_at_the_limit(sender: Sender) -> None:
    """A redirect's body is bounded like any other (requests would read it all to follow it)."""
    server = RawServer(_redirect_with_endless_body)
    try:
        response, took = _timed_send(sender, server.url())
    finally:
        server.close()
    assert (response.status_code, response.body, response.error) == (
        302,
        "y" * 4096,
        "redirect_not_followed",
    )
    assert took < TIMEOUT
    assert len(server.requests) == 1


def _drip_body(server: RawServer, conn: socket.socket, chunked: bool) -> None:
    read_request(server, conn)
    if chunked:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    else:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n")
    for _ in range(15):  # one byte every 0.2 s: 3 s in all, three times the timeout
        if server.closed.wait(0.2):
            return
        conn.sendall(b"1\r\nx\r\n" if chunked else b"x")
    if chunked:
        conn.sendall(b"0\r\n\r\n")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_dripped_past_the_timeout_is_a_timeout(sender: Sender, chunked: bool) -> None:
    """A 200 whose body is still arriving at the deadline is no answer: timeout, not success."""
    server = RawServer(lambda server, conn: _drip_body(server, conn, chunked))
    try:
        response, took = _timed_send(sender, server.url())
    finally:
        server.close()
    assert (response.status_code, response.body, response.error) == (None, None, "timeout")
    assert TIMEOUT * 0.9 <= took < TIMEOUT + SLACK


def _short_body_then_hang_up(server: RawServer, conn: socket.socket) -> None:
    read_request(server, conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")


def test_body_cut_short_is_not_an_answer(sender: Sender) -> None:
    """A 200 that promised 100 bytes and hung up after 10: connection_error, not success."""
    server = RawServer(_short_body_then_hang_up)
    try:
        response = sender.send(server.url(), HEADERS, BODY)
    finally:
        server.close()
    assert (response.status_code, response.body, response.error) == (
        None,
        None,
        "connection_error",
    )


def test_next_attempt_after_a_timeout_succeeds(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A thread whose attempt was cut off delivers its next webhook normally."""
    receiver.script(hook, Reply(action="dribble", delay=0.3), Reply(200, b"fine"))
    assert sender.send(receiver.url(hook), HEADERS, BODY).error == "timeout"
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (200, "fine", None)


def test_a_stalled_receiver_does_not_disturb_other_threads(
    sender: Sender, silent: RawServer
) -> None:
    """While one thread waits out a silent receiver, another's deliveries all succeed."""
    fast = RawServer(answer_ok)
    stalled: list[Response] = []
    waiting = threading.Thread(target=lambda: stalled.append(sender.send(silent.url(), {}, BODY)))
    try:
        waiting.start()
        others = []
        # Keep sending past the stalled thread's deadline, when its watchdog cuts its socket.
        deadline = time.monotonic() + TIMEOUT * 1.5
        while time.monotonic() < deadline:
            others.append(sender.send(fast.url(), HEADERS, BODY))
            time.sleep(0.05)
        waiting.join(timeout=TIMEOUT + 5)
        connections = fast.connections_before_fence()
    finally:
        fast.close()

    assert [r.error for r in stalled] == ["timeout"]
    assert len(others) >= 5
    assert {(r.status_code, r.body, r.error) for r in others} == {(200, "ok", None)}
    assert connections == 1  # its kept-alive socket was never cut
