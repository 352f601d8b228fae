"""What the web server refuses before the app runs, and how: sizes and time, as problem+json.

waitress reads each request whole in its event loop (headers, then the body, de-chunked into a
buffer) and only then hands it to a thread, so a client sending slowly holds a socket, never a
thread. These subclasses bound that reading exactly and answer as the API does:

- a request line longer than `request_line` bytes: 414;
- a header block longer than `header` bytes: 431;
- a body longer than `body` bytes, by Content-Length or once de-chunked: 413, as soon as it is
  known (before the rest is read, and long before any parsing);
- a request not received whole within `request_seconds` of its first byte: 408;
- anything else waitress cannot parse (bad framing, a bare CR...): 400; an unknown
  Transfer-Encoding: 501.
"""

import json
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.server import TcpWSGIServer
from waitress.task import ErrorTask, ThreadedTaskDispatcher
from waitress.utilities import BadRequest, Error, RequestEntityTooLarge

from api.requests_log import HEADER, request_id

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BODY_TOO_LARGE = "the request body is larger than the limit"

# How waitress's parser files a header's name (as WSGI's environ does, without HTTP_).
_HEADER_KEY = HEADER.upper().replace("-", "_")

log = logging.getLogger("api.server")


@dataclass(frozen=True)
class Limits:
    """The bounds of one request, in bytes and seconds."""

    body: int
    request_line: int = 8190
    header: int = 65536
    request_seconds: float = 60.0


class RequestURITooLong(BadRequest):  # type: ignore[misc]
    """The request line alone is longer than the limit."""

    code = 414
    reason = "URI Too Long"


class RequestTimeout(BadRequest):  # type: ignore[misc]
    """The request did not arrive whole in time."""

    code = 408
    reason = "Request Timeout"


_DETAILS = {
    413: BODY_TOO_LARGE,
    414: "the request line (method and URI) is longer than the limit",
    431: "the request headers are larger than the limit",
    408: "the request did not arrive whole in time",
}


class ProblemErrorTask(ErrorTask):  # type: ignore[misc]
    """Answer a request the server refused with a problem document, then close."""

    def execute(self) -> None:
        error: Error = self.request.error
        code = int(error.code)
        body = json.dumps(
            {
                "type": "about:blank",
                "title": HTTPStatus(code).phrase,
                "status": code,
                # waitress's own words for a malformed request name what was wrong with it.
                "detail": _DETAILS.get(code, str(error.body)),
            }
        ).encode()
        # The caller's id when its headers were read whole (a 413 or 408 usually), else a new one.
        refused_id = request_id(self.request.headers.get(_HEADER_KEY))
        # The API never saw it, so its request log didn't either: say it here.
        log.info(
            "request refused",
            extra={"request_id": refused_id, "status_code": code, "detail": str(error.body)},
        )
        self.status = f"{code} {HTTPStatus(code).phrase}"
        self.response_headers.append(("Content-Type", "application/problem+json"))
        self.response_headers.append((HEADER, refused_id))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class BoundedParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's parser, plus the request-line limit, the exact body limit and a start time."""

    limits: Limits  # set on the subclass built for a server

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.monotonic()

    def received(self, data: bytes) -> int:
        consumed: int = super().received(data)
        if self.error is not None or self.empty:
            return consumed
        if self._request_line_length() > self.limits.request_line:
            self._refuse(RequestURITooLong(f"over {self.limits.request_line} bytes"))
        elif self.content_length > self.limits.body or (
            self.body_rcv is not None and len(self.body_rcv) > self.limits.body
        ):
            # Content-Length is known with the headers; a chunked body's size as it arrives.
            self._refuse(RequestEntityTooLarge(f"over {self.limits.body} bytes"))
        return consumed

    def _request_line_length(self) -> int:
        if self.headers_finished:
            return len(self.first_line)
        pending = self.header_plus.lstrip()
        end = pending.find(b"\n")
        return len(pending) if end < 0 else end

    def _refuse(self, error: Error) -> None:
        if not self.headers_finished:
            self.parse_header(b"GET / HTTP/1.0\r\n")  # as waitress does: something to answer
        self.error = error
        self.completed = True
        # No "100 Continue" for a request already refused: the client must not send its body.
        self.expect_continue = False


class BoundedChannel(HTTPChannel):  # type: ignore[misc]
    """A connection whose refusals are problem documents."""

    error_task_class = ProblemErrorTask


class BoundedServer(TcpWSGIServer):  # type: ignore[misc]
    """waitress's server for one listening socket, with a deadline for each whole request."""

    limits: Limits

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # closes connections idle for channel_timeout
        too_old = time.monotonic() - self.limits.request_seconds
        for channel in list(self.active_channels.values()):
            request = channel.request
            if request is None or request.completed or request.started > too_old:
                continue
            if channel.requests:  # still answering earlier ones: just hang up after them
                channel.close_when_flushed = True
                continue
            # As if the parser had refused it: the main loop's own path to an error answer.
            with channel.requests_lock:
                request.error = RequestTimeout(f"not whole after {self.limits.request_seconds} s")
                request.completed = True
                channel.request = None
                channel.requests.append(request)
            self.add_task(channel)


@dataclass
class Servers:
    """waitress servers on some listening sockets: one event loop's map, one thread pool."""

    servers: list[BoundedServer]
    sockets: dict[int, Any]  # the event loop's map: listeners, connections, wake-up pipes
    dispatcher: ThreadedTaskDispatcher

    def run_once(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for socket events, and handle them."""
        # poll(), not select(): select() knows no file descriptor past 1023.
        wasyncore.loop(timeout=timeout, use_poll=True, map=self.sockets, count=1)


def bounded_servers(
    app: WSGIApp,
    listeners: list[socket.socket],
    limits: Limits,
    threads: int,
    connection_limit: int,
) -> Servers:
    """Serve `app` on `listeners` within `limits` (then call `run_once` in a loop)."""
    adj = Adjustments(
        sockets=listeners,
        threads=threads,
        connection_limit=connection_limit,
        max_request_header_size=limits.header,
        # A backstop only: BoundedParser counts the body exactly, without chunk framing.
        max_request_body_size=limits.body * 8 + 65536,
        channel_timeout=limits.request_seconds,  # an idle kept-alive connection
        # How often idle connections and late requests are looked for.
        cleanup_interval=max(1, min(5, int(limits.request_seconds / 4))),
        ident="webhooks",
        expose_tracebacks=False,
        asyncore_use_poll=True,
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(threads)
    parser = type("Parser", (BoundedParser,), {"limits": limits})
    channel = type("Channel", (BoundedChannel,), {"parser_class": parser})
    server = type("Server", (BoundedServer,), {"limits": limits, "channel_class": channel})
    sockets: dict[int, Any] = {}
    servers = [
        server(
            app,
            sockets,
            True,
            listener,
            dispatcher=dispatcher,
            adj=adj,
            bind_socket=False,
            sockinfo=(listener.family, listener.type, listener.proto, listener.getsockname()),
        )
        for listener in listeners
    ]
    return Servers(servers, sockets, dispatcher)
