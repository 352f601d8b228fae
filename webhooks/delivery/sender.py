"""One HTTP attempt: pinned to the checked address, no redirects, bounded in time and size.

urllib3's connections, used directly: one request, one answer, nothing followed or retried.
"""

import base64
import functools
import http.client
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import quote, unquote, urlsplit

import certifi
from urllib3.util.ssl_match_hostname import CertificateError

from webhooks.config import hide_credentials
from webhooks.delivery.answer import read_body, stored_body
from webhooks.delivery.egress import EgressProxy
from webhooks.delivery.outcome import AttemptError
from webhooks.delivery.pinned import (
    ConnectFailed,
    Connection,
    KeptAlive,
    PinnedHTTPConnection,
    PinnedHTTPSConnection,
    Route,
)
from webhooks.delivery.watchdog import Deadline, Watchdog
from webhooks.errors import BlockedAddress
from webhooks.security.guard import NetworkGuard, ResolutionError

log = logging.getLogger(__name__)

# What a URL's path and query may keep as they are; anything else is percent-encoded (UTF-8).
_PATH_SAFE = "/%!$&'()*+,;=:@-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


@dataclass(frozen=True)
class Response:
    """What one attempt got back: a status and the start of the body, or an error."""

    status_code: int | None
    body: str | None
    error: AttemptError | None
    duration_ms: float
    retry_after: str | None = None


@dataclass(frozen=True)
class Target:
    """An endpoint URL taken apart for the request line and its headers."""

    scheme: str
    host: str  # ASCII: IDNA for a non-ASCII name
    port: int
    path: str  # path and query, as the request line carries them
    host_header: str
    authorization: str | None  # Basic, from `user:password@` in the URL


@functools.lru_cache(maxsize=4096)
def parse_target(url: str) -> Target:
    """Take an endpoint URL apart (cached: the same few URLs come back all the time)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host_header = parts.netloc.rpartition("@")[2]  # as written, without the credentials
    if not host.isascii():
        host = host.encode("idna").decode("ascii")  # UnicodeError: no such name
        host_header = f"{host}:{parts.port}" if parts.port is not None else host
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_QUERY_SAFE)
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Target(parts.scheme, host, port, path, host_header, authorization)


class Sender:
    """POST signed webhooks; each thread keeps its own connections alive."""

    def __init__(
        self,
        guard: NetworkGuard,
        timeout: float,
        user_agent: str,
        ca_bundle: str | None = None,
        proxy: EgressProxy | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self.user_agent = user_agent
        self.proxy = proxy
        # The CAs trusted: certifi's bundle (as `requests` used), or only those of `ca_bundle`.
        self.tls = ssl.create_default_context(cafile=ca_bundle or certifi.where())
        self.watchdog = Watchdog()
        self.kept = KeptAlive()

    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Make one attempt; never raises for anything the receiver or network does."""
        started = time.perf_counter()
        with self.watchdog.deadline(self.timeout) as deadline:
            try:
                response = self._send(url, headers, body, deadline)
            except Exception as exc:  # every failure becomes an audited error
                error = AttemptError.TIMEOUT if deadline.expired else _error_name(exc)
                if error is None:
                    log.warning(
                        "unexpected error sending to %s", hide_credentials(url), exc_info=True
                    )
                    error = AttemptError.CONNECTION_ERROR
                response = Response(None, None, error, 0.0)
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        if log.isEnabledFor(logging.DEBUG):
            outcome = response.error or response.status_code
            log.debug("POST %s: %s in %.1f ms", hide_credentials(url), outcome, duration_ms)
        return replace(response, duration_ms=duration_ms)

    def _send(
        self, url: str, headers: Mapping[str, str], body: bytes, deadline: Deadline
    ) -> Response:
        try:
            target = parse_target(url)
        except UnicodeError:
            raise ResolutionError("the host name is not a valid name") from None
        addresses = self.guard.resolve(target.host, target.port)
        request_headers = {
            **headers,
            "host": target.host_header,
            "user-agent": self.user_agent,
            # Compressed bodies would make the bounded read unbounded after decoding.
            "accept-encoding": "identity",
        }
        if target.authorization is not None:
            request_headers["authorization"] = target.authorization
        for index, address in enumerate(addresses):
            route = Route(target.scheme, target.host, target.port, address, self.proxy)
            connection = self.kept.take(route)
            if connection is not None:
                connection.timeout = deadline.remaining
                self.watchdog.watch(connection.sock)
            else:
                connection = self._connection(route, deadline.remaining)
                try:
                    connection.connect()
                except ConnectFailed:
                    connection.close()
                    # Another address of the same name may answer where this one refused.
                    if index + 1 < len(addresses):
                        continue
                    raise
                except BaseException:
                    connection.close()
                    raise
            return self._exchange(connection, route, target.path, request_headers, body, deadline)
        raise ResolutionError(f"{target.host} has no address")

    def _connection(self, route: Route, timeout: float) -> Connection:
        if route.scheme == "https":
            return PinnedHTTPSConnection(route, self.watchdog, timeout, self.tls)
        return PinnedHTTPConnection(route, self.watchdog, timeout)

    def _exchange(
        self,
        connection: Connection,
        route: Route,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
        deadline: Deadline,
    ) -> Response:
        """Send the request and read the whole answer; keep the connection if it may be."""
        try:
            connection.request(
                "POST",
                path,
                body=body,
                headers=headers,
                preload_content=False,
                decode_content=False,
            )
            reply = connection.getresponse()
            if deadline.expired:
                # The watchdog cut the socket while headers were still arriving, and
                # http.client takes a header block cut short for a complete one: no answer.
                raise TimeoutError("the response headers did not arrive in time")
            answer = read_body(reply)
            if deadline.expired:
                # A body cut by the watchdog can look ended (one read until the socket
                # closes): a body that did not end in time is no answer.
                raise TimeoutError("the response body did not end in time")
        except BaseException:
            connection.close()
            raise
        # http.client drops the socket of an answer that closes the connection; a body left
        # unread past the limit leaves the connection unusable.
        if answer.ended and connection.sock is not None:
            self.kept.give_back(route, connection)
        else:
            connection.close()
        status = reply.status
        error = AttemptError.REDIRECT_NOT_FOLLOWED if 300 <= status < 400 else None
        return Response(status, stored_body(answer), error, 0.0, reply.headers.get("retry-after"))


def _error_name(exc: BaseException) -> AttemptError | None:
    """Name a failure for the audit table; None for one nobody expected."""
    if isinstance(exc, BlockedAddress):
        return AttemptError.BLOCKED_ADDRESS
    if isinstance(exc, ResolutionError):
        return AttemptError.DNS_ERROR
    causes = _causes(exc)
    if any(isinstance(c, TimeoutError) for c in causes):
        return AttemptError.TIMEOUT
    if any(isinstance(c, ssl.SSLError | CertificateError) for c in causes):
        return AttemptError.TLS_ERROR
    if any(isinstance(c, http.client.IncompleteRead | ConnectionError) for c in causes):
        # Refused, reset, or closed before the answer (or its body) was complete.
        return AttemptError.CONNECTION_ERROR
    if any(isinstance(c, http.client.HTTPException) for c in causes):
        return AttemptError.INVALID_RESPONSE  # a bad status line, oversized headers...
    if any(isinstance(c, OSError) for c in causes):
        return AttemptError.CONNECTION_ERROR
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """Return an exception and everything it wraps (urllib3 wraps http.client wraps OSError)."""
    found: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if any(current is seen for seen in found):
            continue
        found.append(current)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for inner in (current.__cause__, current.__context__):
            if isinstance(inner, BaseException):
                todo.append(inner)
    return found
