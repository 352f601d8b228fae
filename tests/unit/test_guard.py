"""The network guard: which addresses a webhook may reach, however they are written."""

import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import pytest

from webhooks.errors import BlockedAddress
from webhooks.security.guard import NetworkGuard, ResolutionError

GUARD = NetworkGuard()

BLOCKED = {
    "loopback": ["127.0.0.1", "127.255.255.254", "::1"],
    "private": ["10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "fc00::1", "fd12::1"],
    "link-local": ["169.254.1.1", "fe80::1"],
    "cgnat": ["100.64.0.1", "100.127.255.254"],
    "multicast": ["224.0.0.1", "239.255.255.250", "ff02::1", "ff0e::1"],
    "reserved": ["240.0.0.1", "255.255.255.255", "192.0.2.1", "2001:db8::1", "200::1"],
    "unspecified": ["0.0.0.0", "::"],
    "metadata": ["169.254.169.254", "fd00:ec2::254", "192.0.0.192", "100.100.100.200"],
    "site-local": ["fec0::1"],
    "ipv4-mapped": [
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:100.64.0.1",
        "::ffff:169.254.169.254",
        "::ffff:192.0.0.192",
    ],
    "nat64": ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::6440:1", "64:ff9b:1::a00:1"],
    # The local-use NAT64 prefix may be /48: this is 127.0.0.1 there, 8.8.8.8 in its low bits.
    "nat64-local-use": ["64:ff9b:1:7f00:0:100:808:808"],
    "6to4": ["2002:7f00:1::", "2002:a00:1::1", "2002:a9fe:a9fe::"],
    "ipv4-compatible": ["::127.0.0.1", "::10.0.0.1", "::169.254.169.254"],
    "ipv4-translated": ["::ffff:0:7f00:1", "::ffff:0:a00:1"],
}
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700:4700::1111",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "::ffff:0:808:808",
]


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    "address", [pytest.param(a, id=f"{kind}-{a}") for kind, ips in BLOCKED.items() for a in ips]
)
def test_non_public_addresses_are_blocked(address: str) -> None:
    """Loopback, private, link-local, CGNAT, multicast, reserved, metadata... are refused."""
    assert not GUARD.is_allowed(_ip(address))
    with pytest.raises(BlockedAddress):
        GUARD.check_host(address if ":" not in address else f"[{address}]")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    """Public addresses, including IPv6 forms of public IPv4 ones, are reachable."""
    assert GUARD.is_allowed(_ip(address))
    GUARD.check_host(address if ":" not in address else f"[{address}]")


def test_allow_opens_exactly_its_ranges() -> None:
    """`allow` opens its networks and not one address beside them."""
    guard = NetworkGuard([ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")])
    assert guard.is_allowed(_ip("127.0.0.1"))
    assert guard.is_allowed(_ip("127.255.255.255"))
    assert guard.is_allowed(_ip("::1"))
    assert guard.is_allowed(_ip("::ffff:127.0.0.1"))  # the same place, written in IPv6
    assert guard.is_allowed(_ip("8.8.8.8"))  # public stays public
    for other in ("10.0.0.1", "169.254.169.254", "::2", "fe80::1", "::ffff:10.0.0.1"):
        assert not guard.is_allowed(_ip(other)), other


def test_allow_a_private_subnet_only() -> None:
    """A /24 allowed leaves its neighbours blocked."""
    guard = NetworkGuard([ipaddress.ip_network("10.1.2.0/24")])
    assert guard.is_allowed(_ip("10.1.2.3"))
    assert guard.is_allowed(_ip("64:ff9b::a01:203"))  # NAT64 form of 10.1.2.3
    assert not guard.is_allowed(_ip("10.1.3.1"))
    assert not guard.is_allowed(_ip("10.1.1.255"))


@pytest.mark.parametrize(
    "host",
    [
        "127.1",
        "0x7f000001",
        "2130706433",
        "0177.0.0.1",
        "0x7f.1",
        "[::1]",
        "::1",
        "[::ffff:127.0.0.1]",
        "[fe80::1%eth0]",
        "localhost",
        "LOCALHOST",
        "localhost.",
        "foo.localhost",
        "a.b.localhost.",
        "localhost.localdomain",
        "0",
        "169.254.169.254",
        "[fd00:ec2::254]",
    ],
)
def test_check_host_refuses_literal_blocked_addresses_in_any_spelling(host: str) -> None:
    """At registration every way of writing a loopback or private address is refused."""
    with pytest.raises(BlockedAddress):
        GUARD.check_host(host)


@pytest.mark.parametrize("host", ["example.com", "hooks.example.com", "localhost.example.com"])
def test_check_host_leaves_names_for_resolution(host: str) -> None:
    """A name is not refused at registration: it is checked when resolved, at every attempt."""
    GUARD.check_host(host)


def test_check_host_honours_allow() -> None:
    """With loopback allowed (development), `localhost` and `127.0.0.1` may be registered."""
    guard = NetworkGuard([ipaddress.ip_network("127.0.0.0/8")])
    guard.check_host("localhost")
    guard.check_host("127.0.0.1")


def test_blocked_message_names_the_kind_of_address() -> None:
    """The refusal says why, so the user knows what to change."""
    with pytest.raises(BlockedAddress, match="cloud metadata"):
        GUARD.check_host("169.254.169.254")
    with pytest.raises(BlockedAddress, match="loopback"):
        GUARD.check_host("127.0.0.1")


def _fake_getaddrinfo(answers: dict[str, list[str]]) -> Callable[..., list[Any]]:
    """A getaddrinfo that answers the given names and fails for any other."""

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            raise AssertionError("resolve() must not treat a name as a literal")
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for address in answers[host]:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
            infos.append((family, socket.SOCK_STREAM, 6, "", sockaddr))
        return infos

    return getaddrinfo


def test_resolve_returns_every_public_address(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name with public answers resolves to all of them, once each, in order."""
    answers = {"hooks.example.test": ["93.184.216.34", "2606:2800:220:1::", "93.184.216.34"]}
    monkeypatch.setattr(socket, "getaddrinfo", _fake_getaddrinfo(answers))
    assert GUARD.resolve("hooks.example.test", 443) == [
        _ip("93.184.216.34"),
        _ip("2606:2800:220:1::"),
    ]


@pytest.mark.parametrize(
    "answers",
    [
        ["93.184.216.34", "127.0.0.1"],
        ["127.0.0.1", "93.184.216.34"],
        ["93.184.216.34", "::ffff:10.0.0.1"],
        ["2606:2800:220:1::", "169.254.169.254"],
        ["fe80::1%eth0"],
    ],
)
def test_resolve_refuses_a_name_with_any_blocked_answer(
    monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    """One private answer among public ones blocks the whole name (a rebinding set-up)."""
    monkeypatch.setattr(socket, "getaddrinfo", _fake_getaddrinfo({"mixed.example.test": answers}))
    with pytest.raises(BlockedAddress, match=r"mixed\.example\.test"):
        GUARD.resolve("mixed.example.test", 80)


def test_resolve_allows_what_allow_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """A name resolving into an allowed range is returned for pinning."""
    monkeypatch.setattr(socket, "getaddrinfo", _fake_getaddrinfo({"dev.test": ["127.0.0.1"]}))
    guard = NetworkGuard([ipaddress.ip_network("127.0.0.0/8")])
    assert guard.resolve("dev.test", 8080) == [_ip("127.0.0.1")]


def test_resolve_reports_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DNS failure is a ResolutionError (audited as dns_error), not a crash."""
    monkeypatch.setattr(socket, "getaddrinfo", _fake_getaddrinfo({}))
    with pytest.raises(ResolutionError, match=r"nowhere\.example\.test"):
        GUARD.resolve("nowhere.example.test", 80)


def test_resolve_reports_an_unencodable_name() -> None:
    """A name IDNA cannot encode is a ResolutionError too (no lookup is made)."""
    with pytest.raises(ResolutionError):
        GUARD.resolve("a" * 64 + ".example.test", 80)
