"""The sender against real servers on 127.0.0.1: one attempt, as the audit table records it."""

import ipaddress
import socket
from typing import Any

import pytest

from webhooks.security.guard import NetworkGuard

TIMEOUT = 1.0
LOOPBACK = NetworkGuard([ipaddress.ip_network("127.0.0.0/8")])
BODY = b'{"type": "invoice.paid", "data": {}}'
NAME = "hooks.example.test"  # resolved by pin_name, never by DNS


def pin_name(monkeypatch: pytest.MonkeyPatch, address: str) -> list[str]:
    """Make NAME resolve to `address`; return the names looked up in DNS."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:  # a literal? No DNS: the real answer
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        if host == NAME:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups
