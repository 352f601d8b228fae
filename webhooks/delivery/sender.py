"""One HTTP attempt: pinned to the checked address, no redirects, bounded in time and size."""

import codecs
import http.client
import logging
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from webhooks.config import hide_credentials
from webhooks.delivery.outcome import AttemptError
from webhooks.delivery.watchdog import Deadline, Watchdog
from webhooks.errors import BlockedAddress
from webhooks.models import RESPONSE_BODY_LIMIT
from webhooks.security.guard import IPAddress, NetworkGuard, ResolutionError, literal_address

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Response:
    """What one attempt got back: a status and the start of the body, or an error."""

    status_code: int | None
    body: str | None
    error: AttemptError | None
    duration_ms: float
    retry_after: str | None = None


class Sender:
    """POST signed webhooks; one requests.Session per thread (a Session isn't thread-safe)."""

    def __init__(
        self, guard: NetworkGuard, timeout: float, user_agent: str, verify: bool | str = True
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.user_agent = user_agent
        self.verify = verify  # True: the system's CAs; a path: trust only that CA bundle
        self.watchdog = Watchdog()
        self._pool_classes = _watched_pool_classes(self.watchdog)
        self._local = threading.local()

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Make one attempt; never raises for anything the receiver or network does."""
        started = time.perf_counter()
        with self.watchdog.deadline(self.timeout) as deadline:
            try:
                response = self._send(url, headers, body, deadline)
            except Exception as exc:  # every failure becomes an audited error
                error = AttemptError.TIMEOUT if deadline.expired else _error_name(exc)
                if error == AttemptError.CONNECTION_ERROR and not isinstance(
                    exc, requests.ConnectionError
                ):
                    log.warning(
                        "unexpected error sending to %s", hide_credentials(url), exc_info=True
                    )
                response = Response(None, None, error, 0.0)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        return replace(response, duration_ms=duration_ms)

    def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, deadline: Deadline
    ) -> Response:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = self.guard.resolve(host, port)
        request_headers = {
            **headers,
            "host": parts.netloc.rpartition("@")[2],
            "user-agent": self.user_agent,
            # Compressed bodies would make the bounded read unbounded after decoding.
            "accept-encoding": "identity",
        }
        auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        path = parts.path or "/"
        for index, address in enumerate(addresses):
            pinned = urlunsplit((parts.scheme, f"{_netloc(address)}:{port}", path, parts.query, ""))
            try:
                reply = self._session().post(
                    pinned,
                    data=body,
                    headers=request_headers,
                    auth=auth,
                    timeout=(self.timeout, self.timeout),
                    allow_redirects=False,
                    stream=True,
                    verify=self.verify,
                )
            except requests.ConnectionError as exc:
                # Another address of the same name may answer where this one refused.
                if index + 1 < len(addresses) and _never_connected(exc):
                    continue
                raise
            if deadline.expired:
                # The watchdog cut the socket while headers were still arriving, and
                # http.client takes a header block cut short for a complete one: no answer.
                reply.close()
                raise TimeoutError("the response headers did not arrive in time")
            return _read(reply)
        raise ResolutionError(f"{host} has no address")

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = _NoRedirectSession()
            session.trust_env = False  # no proxies or .netrc from the environment
            adapter = _PinnedAdapter(self._pool_classes, pool_connections=64, pool_maxsize=4)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session


class _NoRedirectSession(requests.Session):
    """A Session that sees no redirects at all.

    Even with allow_redirects=False, requests reads a redirect's whole body into memory
    (to prepare `Response.next`): an endless body there would grow without bound.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def _read(reply: requests.Response) -> Response:
    """Read at most the stored part of the body, then let go of the connection."""
    try:
        # A full read releases the connection for keep-alive; a partial one closes it.
        data = reply.raw.read(RESPONSE_BODY_LIMIT)
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException):
        data = b""  # the status line already counts; a broken body doesn't undo it
    finally:
        reply.close()
    # Not final: a character cut in half by the limit is dropped, so the text stays within it.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(data).replace("\x00", "\ufffd")
    status = reply.status_code
    error = AttemptError.REDIRECT_NOT_FOLLOWED if 300 <= status < 400 else None
    return Response(status, text, error, 0.0, reply.headers.get("retry-after"))


def _error_name(exc: BaseException) -> AttemptError:
    """Name a failure for the audit table."""
    if isinstance(exc, BlockedAddress):
        return AttemptError.BLOCKED_ADDRESS
    if isinstance(exc, ResolutionError):
        return AttemptError.DNS_ERROR
    if isinstance(exc, requests.Timeout):
        return AttemptError.TIMEOUT
    causes = _causes(exc)
    if any(isinstance(c, ssl.SSLError | urllib3.exceptions.SSLError) for c in causes):
        return AttemptError.TLS_ERROR
    if any(isinstance(c, http.client.RemoteDisconnected | ConnectionError) for c in causes):
        return AttemptError.CONNECTION_ERROR
    if any(isinstance(c, http.client.HTTPException) for c in causes):
        return (
            AttemptError.INVALID_RESPONSE
        )  # a bad status line, oversized headers: not HTTP we can read
    return AttemptError.CONNECTION_ERROR


def _causes(exc: BaseException) -> list[BaseException]:
    """Return an exception and everything it wraps (requests nests urllib3 nests stdlib)."""
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for inner in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return found


def _never_connected(exc: requests.ConnectionError) -> bool:
    return any(
        isinstance(
            c, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
        )
        for c in _causes(exc)
    )


def _netloc(address: IPAddress) -> str:
    return f"[{address}]" if address.version == 6 else str(address)


class _PinnedAdapter(HTTPAdapter):
    """Connect to the address the guard checked while TLS still verifies the real host name."""

    def __init__(self, pool_classes: dict[str, type[HTTPConnectionPool]], **kwargs: Any) -> None:
        self._pool_classes = pool_classes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

    def build_connection_pool_key_attributes(  # type: ignore[override]
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, ssl_kwargs = super().build_connection_pool_key_attributes(
            request, verify, cert
        )
        pool_kwargs: dict[str, Any] = dict(ssl_kwargs)
        server_name = urllib3.util.parse_url(f"//{request.headers['host']}").host or ""
        server_name = server_name.strip("[]")
        if host_params["scheme"] == "https" and literal_address(server_name) is None:
            # Part of the pool key too, so that two names on one address never share a socket.
            pool_kwargs["server_hostname"] = server_name
            pool_kwargs["assert_hostname"] = server_name
        return dict(host_params), pool_kwargs


class _WatchedConnection:
    """Report every socket to the watchdog: new ones as they open, pooled ones as reused."""

    watchdog: Watchdog
    sock: Any

    def _new_conn(self) -> Any:
        sock = super()._new_conn()  # type: ignore[misc]
        self.watchdog.watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:
            self.watchdog.watch(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


def _watched_pool_classes(watchdog: Watchdog) -> dict[str, type[HTTPConnectionPool]]:
    """Build connection pool classes whose connections report to `watchdog`."""
    attrs = {"watchdog": watchdog}
    http_conn = type("WatchedHTTPConnection", (_WatchedConnection, HTTPConnection), attrs)
    https_conn = type("WatchedHTTPSConnection", (_WatchedConnection, HTTPSConnection), attrs)
    return {
        "http": type("WatchedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("WatchedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
