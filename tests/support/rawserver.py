"""A raw TCP server on 127.0.0.1 for the sender's tests: counts connections, misbehaves on cue."""

import contextlib
import socket
import threading
from collections.abc import Callable

from tests.support import wait_until

Handler = Callable[["RawServer", socket.socket], None]


class RawServer:
    """Accept connections on 127.0.0.1 and run `handler(server, conn)` for each, in a thread."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.closed = threading.Event()
        self.requests: list[bytes] = []
        self._peers: list[tuple[str, int]] = []
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def accepted(self) -> int:
        """How many connections were accepted so far."""
        with self._lock:
            return len(self._peers)

    def connections_before_fence(self) -> int:
        """Count connections made before now, once every one of them has surely been accepted.

        Connect once more and wait for that connection: accept() is first-in first-out,
        so anything the code under test connected earlier has been counted by then.
        """
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as fence:
            peer = fence.getsockname()[:2]
            wait_until(lambda: peer in self._snapshot(), message="fence never accepted")
            return self._snapshot().index(peer)

    def close(self) -> None:
        """Stop accepting and hang up on every connection."""
        self.closed.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        self._thread.join(timeout=5)
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()

    def _snapshot(self) -> list[tuple[str, int]]:
        with self._lock:
            return list(self._peers)

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._peers.append(peer[:2])
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            self.handler(self, conn)


def read_request(server: RawServer, conn: socket.socket) -> bytes | None:
    """Read one HTTP/1.1 request with a Content-Length body; None once the client hangs up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    request = head + b"\r\n\r\n" + body
    with server._lock:
        server.requests.append(request)
    return request


def answer_ok(server: RawServer, conn: socket.socket) -> None:
    """Answer every request on the connection with 200 `ok`, keeping it alive."""
    while read_request(server, conn) is not None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")


def never_answer(server: RawServer, conn: socket.socket) -> None:
    """Read the request, then say nothing until the server closes."""
    read_request(server, conn)
    server.closed.wait()
