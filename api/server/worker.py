"""A gunicorn worker that serves with waitress: gunicorn's processes, waitress's buffering.

gunicorn keeps what it is good at (forking `--workers` processes on a shared socket,
restarting dead ones, signals, graceful reloads); in each process waitress's
event loop reads every request whole before one of `--threads` threads runs the app, so slow
clients cost a socket each instead of a thread (gunicorn's own threaded worker hands a
connection to a thread as soon as its first byte arrives).

gunicorn settings it honours: bind, backlog, workers, threads, worker_connections (open
connections per process), timeout (the heartbeat), graceful_timeout, max_requests. The
request limits are in api/server/limits.py; the API logs each request itself (no access log).
"""

import gc
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from gunicorn.workers.base import Worker
from waitress.channel import HTTPChannel

from api.server.limits import Limits, Servers, WSGIApp, bounded_servers

# No app limit (MAX_CONTENT_LENGTH unset): bodies still stop somewhere.
DEFAULT_BODY_LIMIT = 1 << 20


class BufferedWorker(Worker):  # type: ignore[misc]
    """Run the app under waitress on the sockets gunicorn opened."""

    alive: bool
    nr: int
    max_requests: int

    def run(self) -> None:
        # The app is loaded: what exists now lives as long as the process. Frozen out of the
        # collector's reach, a full collection no longer walks it (50 to 80 ms, every few
        # seconds under load, during which no request moves).
        gc.freeze()
        # All threads busy is what a loaded server looks like, not a warning per request.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        app: WSGIApp = self.wsgi
        # The app's own body limit (Flask's MAX_CONTENT_LENGTH) is the server's too.
        body = getattr(app, "config", {}).get("MAX_CONTENT_LENGTH") or DEFAULT_BODY_LIMIT
        served = bounded_servers(
            self._counted(app),
            [listener.sock for listener in self.sockets],
            Limits(body=body),
            threads=self.cfg.threads,
            connection_limit=self.cfg.worker_connections,
        )
        beat = 0.0
        while self.alive:
            if time.monotonic() - beat > 1:
                beat = time.monotonic()
                self.notify()
                if self.ppid != os.getppid():
                    self.log.info("Parent changed, shutting down: %s", self)
                    break
            served.run_once(1.0)
        self._stop(served)

    def _stop(self, served: Servers) -> None:
        """Stop accepting, finish the requests already received, then leave."""
        sockets = served.sockets
        for server in served.servers:
            server.del_channel()  # its trigger stays: task threads still wake the loop with it
            server.socket.close()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline:
            busy = False
            for channel in list(sockets.values()):
                if not isinstance(channel, HTTPChannel):
                    continue
                if channel.requests or channel.total_outbufs_len:
                    busy = True
                else:  # idle, or a request still arriving: not ours to finish
                    channel.handle_close()
            if not busy:
                break
            self.notify()
            served.run_once(0.1)
        served.dispatcher.shutdown(cancel_pending=True, timeout=1)

    def _counted(self, app: WSGIApp) -> WSGIApp:
        """Count requests, to honour max_requests."""

        def counted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            self._one_more()
            return app(environ, start_response)

        return counted

    def _one_more(self) -> None:
        self.nr += 1
        if self.nr >= self.max_requests and self.alive:
            self.log.info("Autorestarting worker after current request.")
            self.alive = False
