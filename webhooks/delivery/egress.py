"""The egress proxy: a CONNECT tunnel to the address the guard checked, never to a name.

Receivers that allow-list their callers need the service to leave from fixed addresses: an
HTTP CONNECT proxy (smokescreen, squid...) with those addresses does that. The sender still
resolves and checks the name itself, then asks the proxy for a tunnel to the checked IP
address, so the proxy never resolves a name and DNS rebinding can't slip past the guard. TLS
runs inside the tunnel, end to end, with the URL's host name for SNI and the certificate check.

Plain http:// deliveries go through CONNECT too: a forwarding proxy (`POST http://name/`)
would look the name up itself, and the address it reached would be one nobody checked.
"""

import base64
import socket
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from webhooks.errors import ConfigError
from webhooks.security.guard import IPAddress

# A CONNECT answer is a status line and a few headers; anything longer is not a proxy talking.
_MAX_ANSWER_BYTES = 16384


class ProxyRefused(OSError):
    """The egress proxy did not open the tunnel."""


@dataclass(frozen=True)
class EgressProxy:
    """Where the proxy listens, and the credentials it wants (if any)."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> "EgressProxy":
        """Read `http://[user:password@]host:port` (the operator's own address: never guarded)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"WEBHOOKS_EGRESS_PROXY is not a valid URL: {exc}") from None
        if parts.scheme != "http" or not parts.hostname or port is None:
            raise ConfigError("WEBHOOKS_EGRESS_PROXY must look like http://host:port")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError("WEBHOOKS_EGRESS_PROXY must be only http://host:port")
        authorization = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            authorization = "Basic " + base64.b64encode(pair.encode()).decode()
        return cls(parts.hostname, port, authorization)

    def tunnel(self, sock: socket.socket, address: IPAddress, port: int) -> None:
        """Over `sock`, connected to the proxy, have it open a tunnel to `address`:`port`."""
        target = f"[{address}]:{port}" if address.version == 6 else f"{address}:{port}"
        lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
        if self.authorization:
            lines.append(f"Proxy-Authorization: {self.authorization}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("ascii"))
        status = _read_answer(sock)
        if status != 200:
            raise ProxyRefused(f"the egress proxy answered {status} to CONNECT {target}")


def _read_answer(sock: socket.socket) -> int:
    """Read the proxy's answer to CONNECT, exactly up to its blank line; return its status."""
    answer = b""
    # Byte by byte, and only a few dozen of them: whatever follows the blank line belongs to
    # the receiver, and must stay in the socket for TLS or HTTP to read.
    while not answer.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            raise ProxyRefused("the egress proxy closed the connection before answering CONNECT")
        answer += byte
        if len(answer) > _MAX_ANSWER_BYTES:
            raise ProxyRefused("the egress proxy's answer to CONNECT is too long")
    version, _, rest = answer.partition(b" ")
    code = rest[:3]
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ProxyRefused("the egress proxy's answer to CONNECT is not HTTP")
    return int(code)
