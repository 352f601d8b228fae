"""The receiver every benchmark POSTs to: asyncio, in a process of its own, never the bottleneck.

It answers every request with an empty 200 (after `delay` seconds, concurrently), and notes
when each arrived and its `webhook-id`. The benchmark reads those notes over HTTP from the
same port: `GET /_stats` (count, first and last arrival), `GET /_arrivals` (every id with
its time), `POST /_reset`.
"""

import asyncio
import contextlib
import json
import multiprocessing
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.synchronize import Event

import requests

from bench.support import free_port

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class _Notes:
    """Arrivals, kept by the server process."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[str, float]] = []

    def control(self, method: bytes, path: bytes) -> bytes:
        if method == b"POST" and path == b"/_reset":
            self.arrivals = []
            body = b"{}"
        elif path == b"/_arrivals":
            body = json.dumps(self.arrivals).encode()
        else:
            times = [at for _, at in self.arrivals]
            stats = {"count": len(times), "first": min(times, default=None)}
            stats["last"] = max(times, default=None)
            body = json.dumps(stats).encode()
        return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


class _Protocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, just enough for POSTs with a content-length."""

    def __init__(self, notes: _Notes, delay: float) -> None:
        self.notes = notes
        self.delay = delay
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (head_end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:head_end].split(b"\r\n")
            method, path, _ = lines[0].split(b" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            end = head_end + 4 + int(headers.get(b"content-length", 0))
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            if path.startswith(b"/_"):
                self.transport.write(self.notes.control(method, path))
                continue
            message_id = headers.get(b"webhook-id", b"").decode()
            self.notes.arrivals.append((message_id, time.time()))
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self._reply)
            else:
                self.transport.write(OK)

    def _reply(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(OK)


def _serve(port: int, delay: float, ready: Event) -> None:
    notes = _Notes()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: _Protocol(notes, delay), "127.0.0.1", port, backlog=4096
        )
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


@dataclass(frozen=True)
class Stats:
    """How many requests arrived, and when the first and the last did (time.time())."""

    count: int
    first: float | None
    last: float | None


class Receiver:
    """A handle on the receiver process: its URL and its notes."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str = "/hook") -> str:
        """A URL that answers 200."""
        return self.base + path

    def stats(self) -> Stats:
        """The count and times of arrivals so far."""
        found = requests.get(self.base + "/_stats", timeout=30).json()
        return Stats(found["count"], found["first"], found["last"])

    def arrivals(self) -> list[tuple[str, float]]:
        """Every arrival's webhook-id and time, in order."""
        return [(i, t) for i, t in requests.get(self.base + "/_arrivals", timeout=60).json()]

    def reset(self) -> None:
        """Forget every arrival."""
        requests.post(self.base + "/_reset", timeout=30)


@contextlib.contextmanager
def receiver(delay: float = 0.0) -> Iterator[Receiver]:
    """Run a receiver that answers after `delay` seconds."""
    port = free_port()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=_serve, args=(port, delay, ready), daemon=True)
    process.start()
    if not ready.wait(10):
        sys.exit("the receiver did not start")
    try:
        yield Receiver(port)
    finally:
        process.terminate()
        process.join()
