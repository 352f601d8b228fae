"""A resolver that answers from a table, so that registration checks never need the internet."""

import ipaddress
import socket
from typing import Any

PUBLIC = "93.184.215.14"
# Names the tests register, and what they resolve to.
NAMES: dict[str, tuple[str, ...]] = {
    "localhost": ("127.0.0.1",),
    "loopback.test": ("127.0.0.1",),
    "private.test": ("10.1.2.3",),
    "metadata.test": ("169.254.169.254",),
    "mixed.test": (PUBLIC, "10.1.2.3"),
    "public.test": (PUBLIC,),
}
# Any name under these resolves to PUBLIC (example.com, hooks.example.org, ...).
PUBLIC_DOMAINS = ("example.com", "example.org", "example.net", "e.com", "hooks.example")


def resolve(host: str, port: Any, *_: Any, **__: Any) -> list[tuple[Any, ...]]:
    """socket.getaddrinfo's answer for `host`, from the table; EAI_NONAME for other names."""
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except socket.gaierror:
        pass
    name = host.lower().rstrip(".")
    addresses = NAMES.get(name)
    if addresses is None and (
        name.startswith("xn--") or any(name == d or name.endswith("." + d) for d in PUBLIC_DOMAINS)
    ):
        addresses = (PUBLIC,)
    if addresses is None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    return [
        (
            socket.AF_INET6 if ipaddress.ip_address(a).version == 6 else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
            "",
            (a, int(port or 0)),
        )
        for a in addresses
    ]
