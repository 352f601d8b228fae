"""A request id on every API log line (the X-Request-Id sent, or a new one); a line per request."""

import logging
import re
import time

from flask import Flask, Response, g, request

from webhooks.ids import new_id
from webhooks.observability.logs import bind_context, clear_context

HEADER = "X-Request-Id"
# A caller's id goes into every log line of its request: anything unusual is replaced.
OFFERED = re.compile(r"[A-Za-z0-9._:/+=\-]{1,128}")
# Probes and scrapes come every few seconds: their lines only at DEBUG.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

log = logging.getLogger("api.requests")


def request_id(offered: str | None) -> str:
    """The caller's X-Request-Id if it is plain enough for a log line, else a new id."""
    return offered if offered and OFFERED.fullmatch(offered) else new_id("req")


def register_request_log(app: Flask) -> None:
    """Give every request an id, bind it to the log context, and log the request once."""

    @app.before_request
    def _start() -> None:
        g.request_id = request_id(request.headers.get(HEADER))
        g.request_started = time.perf_counter()
        bind_context(request_id=g.request_id)

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id") or new_id("req")
        response.headers[HEADER] = request_id
        started = g.get("request_started")
        duration = (time.perf_counter() - started) * 1000 if started is not None else None
        level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
        fields = {
            "method": request.method,
            "path": request.path,
            "status_code": response.status_code,
            "duration_ms": round(duration, 3) if duration is not None else None,
        }
        if g.get("tenant"):
            fields["tenant"] = g.tenant  # the tenant the caller's key is bound to
        log.log(level, "request", extra=fields)
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        clear_context()
