"""Connections that reach only the address the guard checked, and a thread's kept-alive ones.

The guard resolves a host name and checks every address (webhooks/security/guard.py); a
connection here is made for one of those addresses and never looks the name up again, so a
DNS answer that changes between the check and the connection (rebinding) changes nothing.
TLS still uses the URL's host name for SNI and the certificate check, and `Host` is the
URL's own: to the receiver, nothing tells a pinned connection from an ordinary one.
"""

import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from urllib3.connection import HTTPConnection, HTTPSConnection

from webhooks.delivery.egress import EgressProxy
from webhooks.delivery.watchdog import Watchdog
from webhooks.security.guard import IPAddress

# Per thread: enough for the receivers a worker thread meets in a row, few enough file
# descriptors for fifty threads. Idle longer than this and most servers have hung up anyway.
KEPT_PER_THREAD = 16
KEPT_IDLE_SECONDS = 60.0


class ConnectFailed(ConnectionError):
    """No TCP connection (or no tunnel) to the address: nothing was sent."""


@dataclass(frozen=True)
class Route:
    """Where a connection goes: the URL's scheme, host name and port, and the checked address."""

    scheme: str
    host: str  # ASCII (IDNA) form: SNI, the certificate check, the connection's key
    port: int
    address: IPAddress
    proxy: EgressProxy | None = None


class _Pinned:
    """Open the socket to the route's address (or a tunnel to it), under the watchdog."""

    route: Route
    watchdog: Watchdog
    timeout: Any
    sock: Any

    def _new_conn(self) -> socket.socket:
        route = self.route
        try:
            if route.proxy is None:
                family = socket.AF_INET6 if route.address.version == 6 else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
            else:
                # The operator's own proxy: its address is configured, not checked.
                sock = socket.create_connection((route.proxy.host, route.proxy.port), self.timeout)
        except OSError as exc:
            raise ConnectFailed(str(exc)) from exc
        try:
            sock.settimeout(self.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.watchdog.watch(sock)  # before the receiver (or the tunnel to it) answers
            if route.proxy is None:
                sock.connect((str(route.address), route.port))
            else:
                route.proxy.tunnel(sock, route.address, route.port)
        except OSError as exc:
            sock.close()
            raise ConnectFailed(str(exc)) from exc
        return sock


class PinnedHTTPConnection(_Pinned, HTTPConnection):
    """Plain HTTP to the checked address."""

    def __init__(self, route: Route, watchdog: Watchdog, timeout: float) -> None:
        self.route = route
        self.watchdog = watchdog
        super().__init__(route.host, route.port, timeout=timeout)


class PinnedHTTPSConnection(_Pinned, HTTPSConnection):
    """TLS to the checked address, verifying the certificate against the URL's host name."""

    def __init__(self, route: Route, watchdog: Watchdog, timeout: float, context: Any) -> None:
        self.route = route
        self.watchdog = watchdog
        # `host` is the name: urllib3 sends it as SNI and checks the certificate against it
        # (an address literal as host: no SNI, the certificate must name that address).
        super().__init__(route.host, route.port, timeout=timeout, ssl_context=context)

    def connect(self) -> None:
        super().connect()
        # The TLS socket replaces the plain one (which it detached): watch it too.
        self.watchdog.watch(self.sock)


Connection = PinnedHTTPConnection | PinnedHTTPSConnection


class KeptAlive:
    """Each thread's idle connections by route, least recently used first out.

    One thread, one set: a connection is never shared, so a watchdog cutting one thread's
    socket at its deadline can never cut another thread's request.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def take(self, route: Route) -> Connection | None:
        """Return this thread's idle connection for `route` if it is still open, else None."""
        idle = self._idle()
        now = time.monotonic()
        for key, (_, since) in list(idle.items()):
            if now - since > KEPT_IDLE_SECONDS:
                idle.pop(key)[0].close()
        kept = idle.pop(route, None)
        if kept is None:
            return None
        connection = kept[0]
        # The receiver may have closed it meanwhile: a readable idle socket is a dead one.
        if not connection.is_connected:
            connection.close()
            return None
        return connection

    def give_back(self, route: Route, connection: Connection) -> None:
        """Keep `connection` (whose answer was read to its end) for the next request."""
        idle = self._idle()
        idle[route] = (connection, time.monotonic())
        while len(idle) > KEPT_PER_THREAD:
            idle.popitem(last=False)[1][0].close()

    def _idle(self) -> "OrderedDict[Route, tuple[Connection, float]]":
        idle: OrderedDict[Route, tuple[Connection, float]] | None = getattr(
            self._local, "idle", None
        )
        if idle is None:
            idle = self._local.idle = OrderedDict()
        return idle
