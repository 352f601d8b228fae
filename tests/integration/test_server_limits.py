"""The web server's own refusals, in process: exact limits, in time, as problem documents."""

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from waitress import wasyncore

from api.server.limits import Limits, bounded_servers
from tests.support.rawclient import Answer, chunked, exchange, read_answer

LIMITS = Limits(body=1024, request_line=512, header=4096, request_seconds=1.0)


def _echo_size(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer 200 with the size of the body the app was handed."""
    size = str(len(environ["wsgi.input"].read())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(size)))])
    return [size]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    """A bounded server on a free port, its event loop in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    served = bounded_servers(_echo_size, [listener], LIMITS, threads=2, connection_limit=50)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            served.run_once(0.05)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    served.dispatcher.shutdown(timeout=1)
    wasyncore.close_all(served.sockets)


def _post(port: int, head: str, body: bytes) -> Answer:
    return exchange(port, f"POST /hook HTTP/1.1\r\nHost: test\r\n{head}\r\n".encode() + body)


def _assert_problem(answer: Answer, status: int) -> None:
    assert answer.status == status
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    assert problem["type"] == "about:blank"
    assert problem["title"] and problem["detail"]


def test_body_at_the_limit_reaches_the_app_whole(port: int) -> None:
    """1024 bytes, by Content-Length or in 1-byte chunks (framing not counted): all delivered."""
    body = b"x" * LIMITS.body
    by_length = _post(port, f"Content-Length: {len(body)}\r\n", body)
    by_chunks = _post(port, "Transfer-Encoding: chunked\r\n", chunked(body, 1))
    assert (by_length.status, by_length.body) == (200, b"1024")
    assert (by_chunks.status, by_chunks.body) == (200, b"1024")


@pytest.mark.parametrize("chunk", [1, 100, 1025], ids=["1-byte", "100-byte", "one-chunk"])
def test_chunked_body_over_the_limit_is_413(port: int, chunk: int) -> None:
    """One byte over, however chunked: 413 problem+json, never a truncated body for the app."""
    answer = _post(port, "Transfer-Encoding: chunked\r\n", chunked(b"x" * 1025, chunk))
    _assert_problem(answer, 413)


def test_content_length_over_the_limit_is_413_before_the_body(port: int) -> None:
    """A Content-Length over the limit is refused at once: the server does not wait for it."""
    answer = _post(port, "Content-Length: 1025\r\n", b"")  # announced, never sent
    _assert_problem(answer, 413)


def test_expect_continue_over_the_limit_is_413_without_continue(port: int) -> None:
    """A client asking before it sends the body is told 413 at once, never "100 Continue"."""
    answer = _post(port, "Content-Length: 5000\r\nExpect: 100-continue\r\n", b"")
    _assert_problem(answer, 413)


def test_long_request_line_is_414(port: int) -> None:
    """A request line over the limit: 414, even before its end arrives."""
    answer = exchange(port, b"GET /" + b"a" * 600)
    _assert_problem(answer, 414)


def test_large_headers_are_431(port: int) -> None:
    """A header block over the limit: 431."""
    answer = exchange(port, b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n")
    _assert_problem(answer, 431)


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ],
    ids=["malformed-header", "bad-chunk-size", "unknown-transfer-encoding"],
)
def test_malformed_requests_get_problems(port: int, request_bytes: bytes, status: int) -> None:
    """What the server cannot parse is answered as the API answers: a problem document."""
    _assert_problem(exchange(port, request_bytes), status)


def test_request_dripped_past_its_deadline_is_408(port: int) -> None:
    """A request still arriving after request_seconds is answered 408 and the connection closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /hook HTTP/1.1\r\nHost: test\r\n")
        answer = None
        while answer is None and time.monotonic() - started < 5:
            try:
                sock.sendall(b"X-Drip: 1\r\n")  # a header line every 0.2 s, never the end
            except OSError:
                break
            sock.settimeout(0.2)
            try:
                answer = read_answer(sock)
            except TimeoutError:
                continue
        took = time.monotonic() - started
    assert answer is not None
    _assert_problem(answer, 408)
    assert LIMITS.request_seconds <= took < LIMITS.request_seconds + 3
