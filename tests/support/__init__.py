"""Test support: a scriptable receiver, real worker processes, waiting helpers."""

import socket
import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(
    check: Callable[[], T | Literal[False] | None],
    timeout: float = 15.0,
    interval: float = 0.05,
    message: str = "",
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(message or f"condition not met within {timeout}s: {check}")
        time.sleep(interval)
