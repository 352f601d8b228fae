"""Network guard: which addresses a webhook may reach, checked where the connection is made.

`NetworkGuard.resolve` looks a name up once and checks every address; the sender then connects
to one of those addresses and nothing else (webhooks/delivery/pinned.py), never looking the
name up again.
"""

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any

from webhooks.errors import BlockedAddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud metadata services. Most sit in ranges blocked anyway; some (Oracle's) look global.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
# IPv6 prefixes that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix,
# IPv4-compatible, and SIIT's IPv4-translated. Not the local-use NAT64 prefix 64:ff9b:1::/48:
# its operator picks a prefix length from /48 to /96, so the IPv4 address could sit elsewhere
# (64:ff9b:1:7f00:0:100:: is 127.0.0.1 under a /48); it is judged as reserved instead.
_IPV4_IN_LOW_BITS = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
)
_LOCAL_NAMES = ("localhost", "localhost.localdomain")
# socket.getaddrinfo's shape: tests hand in one that answers from a table.
Resolver = Callable[..., list[tuple[Any, ...]]]


class ResolutionError(Exception):
    """A host name did not resolve."""


class NetworkGuard:
    """Decide which addresses are reachable: public ones, plus the ranges explicitly allowed."""

    def __init__(self, allow: Iterable[IPNetwork] = (), resolver: Resolver | None = None) -> None:
        self.allow = tuple(allow)
        self.resolver = resolver

    def is_allowed(self, ip: IPAddress) -> bool:
        """Return whether a connection to `ip` is permitted."""
        if any(ip in network for network in self.allow):
            return True
        embedded = embedded_ipv4(ip) if isinstance(ip, ipaddress.IPv6Address) else None
        if embedded is not None:
            # ::ffff:10.0.0.1 and 64:ff9b::a00:1 reach 10.0.0.1: judge the address they carry.
            return self.is_allowed(embedded)
        # is_global alone lets reserved IPv6 (200::/7, ...) and deprecated site-local pass.
        site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
        return (
            ip.is_global
            and not (ip.is_multicast or ip.is_reserved or site_local)
            and ip not in METADATA_ADDRESSES
        )

    def check_host(self, host: str) -> None:
        """Refuse a host that is, literally, a blocked address (no DNS lookup)."""
        ip = literal_address(host)
        name = host.lower().rstrip(".")
        if name in _LOCAL_NAMES or name.endswith(".localhost"):
            ip = ipaddress.ip_address("127.0.0.1")
        if ip is not None and not self.is_allowed(ip):
            raise BlockedAddress(
                f"{host} is a {describe(ip)} address, which webhooks may not reach"
            )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """Resolve `host` and return its addresses, refusing the lot if any one is blocked."""
        try:
            resolver = socket.getaddrinfo if self.resolver is None else self.resolver
            infos = resolver(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise ResolutionError(f"{host} did not resolve: {exc}") from None
        addresses: list[IPAddress] = []
        for info in infos:
            ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if ip not in addresses:
                addresses.append(ip)
        # One blocked answer blocks the name: a record set mixing public and private
        # addresses is how rebinding attacks are staged.
        for ip in addresses:
            if not self.is_allowed(ip):
                raise BlockedAddress(f"{host} resolves to a {describe(ip)} address")
        return addresses


def literal_address(host: str) -> IPAddress | None:
    """Parse `host` as an IP literal in any form the resolver accepts (127.1, 0x7f000001...)."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        infos = socket.getaddrinfo(bare, None, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError):
        return None
    return ipaddress.ip_address(str(infos[0][4][0]).split("%", 1)[0])


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")):
        return None
    if any(ip in prefix for prefix in _IPV4_IN_LOW_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def describe(ip: IPAddress) -> str:
    """Name the kind of a blocked address for an error message."""
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    kinds = ("loopback", "link_local", "site_local", "multicast", "private", "reserved")
    for kind in (*kinds, "unspecified"):
        if getattr(ip, f"is_{kind}", False):  # IPv4 has no site-local
            return kind.replace("_", "-")
    return "non-public"
