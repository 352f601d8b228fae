"""A total deadline for blocking socket work, which per-operation socket timeouts don't give."""

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(eq=False)
class Deadline:
    """One attempt's deadline and the sockets it has opened or reused."""

    at: float
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False

    @property
    def remaining(self) -> float:
        """Seconds left, never zero (a zero socket timeout would mean non-blocking)."""
        return max(self.at - time.monotonic(), 0.001)


class Watchdog:
    """Shut down a thread's sockets once its deadline passes, so a receiver can't stall it.

    A receiver that drips one header byte every few seconds never trips a read timeout;
    shutting the socket down from another thread wakes the blocked read at once.
    """

    def __init__(self) -> None:
        self._local = threading.local()
        self._cond = threading.Condition()
        self._armed: set[Deadline] = set()
        self._thread: threading.Thread | None = None
        self._wake_at: float | None = None  # when the watchdog thread next looks

    @contextmanager
    def deadline(self, seconds: float) -> Iterator[Deadline]:
        """Arm a deadline for the work done by this thread inside the block."""
        deadline = Deadline(at=time.monotonic() + seconds)
        self._local.current = deadline
        with self._cond:
            self._armed.add(deadline)
            self._start()
            # Deadlines mostly come in order: wake the watchdog only for an earlier one.
            if self._wake_at is None or deadline.at < self._wake_at:
                self._cond.notify()
        try:
            yield deadline
        finally:
            self._local.current = None
            with self._cond:
                self._armed.discard(deadline)

    def watch(self, sock: socket.socket) -> None:
        """Put a socket this thread is about to use under its current deadline."""
        deadline: Deadline | None = getattr(self._local, "current", None)
        if deadline is None:
            return
        with self._cond:
            deadline.sockets.append(sock)
            if deadline.expired:
                _cut(sock)

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="webhooks-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                waiting = []
                for deadline in self._armed:
                    if deadline.expired:
                        continue
                    if deadline.at <= now:
                        deadline.expired = True
                        for sock in deadline.sockets:
                            _cut(sock)
                    else:
                        waiting.append(deadline.at)
                self._wake_at = min(waiting) if waiting else None
                self._cond.wait(timeout=self._wake_at - now if self._wake_at else None)


def _cut(sock: socket.socket) -> None:
    # The plain socket's shutdown, not SSLSocket's: that one also drops its TLS state,
    # which the thread still reading from it does not expect.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
