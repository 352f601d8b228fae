"""A real HTTP receiver on 127.0.0.1 whose answers each test scripts."""

import socket
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal

from tests.support import wait_until

Action = Literal["reply", "close", "garbage", "dribble", "endless"]


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request.

    action: "reply" (normal answer after `delay` seconds), "close" (drop the connection
    without answering), "garbage" (bytes that are not HTTP), "dribble" (send the status
    line and then one header byte every `delay` seconds, forever), "endless" (200 with a
    chunked body that never ends).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    action: Action = "reply"


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it."""

    path: str
    headers: dict[str, str]  # names lowercased
    body: bytes
    at: float  # time.time() when it arrived


class Receiver:
    """Record every request; answer each path from its script (the last entry repeats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scripts: dict[str, list[Reply]] = defaultdict(list)
        self._received: list[Received] = []
        self._active: dict[str, int] = defaultdict(int)  # requests being answered, by path
        self._peak: dict[str, int] = defaultdict(int)
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply | int) -> None:
        """Answer requests to `path` with these replies in turn; the last one repeats."""
        with self._lock:
            self._scripts[path] = [r if isinstance(r, Reply) else Reply(status=r) for r in replies]

    def received(self, path: str | None = None) -> list[Received]:
        """Requests received so far (to `path`, or to any path), oldest first."""
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 15.0
    ) -> list[Received]:
        """Wait until at least `count` requests arrived (to `path`); return them."""
        return wait_until(
            lambda: self.received(path) if len(self.received(path)) >= count else [],
            timeout=timeout,
            message=f"receiver got {len(self.received(path))} requests to {path}, wanted {count}",
        )

    def peak_in_flight(self, path: str) -> int:
        """The most requests to `path` that were being answered at once."""
        with self._lock:
            return self._peak[path]

    def _enter(self, path: str) -> None:
        with self._lock:
            self._active[path] += 1
            self._peak[path] = max(self._peak[path], self._active[path])

    def _leave(self, path: str) -> None:
        with self._lock:
            self._active[path] -= 1

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            script = self._scripts.get(path) or [Reply()]
            return script.pop(0) if len(script) > 1 else script[0]

    def _record(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._record(Received(self.path, headers, body, time.time()))
                reply = receiver._next_reply(self.path)
                receiver._enter(self.path)
                try:
                    _answer(self, reply)
                finally:
                    receiver._leave(self.path)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


class _QuietServer(ThreadingHTTPServer):
    """A server that doesn't print a traceback when a sender hangs up: tests do that on purpose."""

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


def _answer(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    sock: socket.socket = handler.connection
    try:
        if reply.action == "close":
            handler.close_connection = True
            sock.shutdown(socket.SHUT_RDWR)
            return
        if reply.action == "garbage":
            handler.wfile.write(b"this is not HTTP at all\r\n\r\n")
            handler.close_connection = True
            return
        if reply.action == "dribble":
            handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
            while True:
                handler.wfile.write(b"X")
                handler.wfile.flush()
                time.sleep(reply.delay or 0.5)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.action == "endless":
            handler.send_response(200)
            handler.send_header("transfer-encoding", "chunked")
            handler.end_headers()
            chunk = b"x" * 65536
            while True:
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("content-length", str(len(reply.body)))
        handler.end_headers()
        handler.wfile.write(reply.body)
    except OSError:
        handler.close_connection = True  # the sender hung up first: that's the point
