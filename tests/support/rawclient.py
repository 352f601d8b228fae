"""Raw HTTP/1.1 over a socket, for requests no well-behaved client would send."""

import contextlib
import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    """A response as it came off the wire."""

    status: int
    headers: dict[str, str]  # names lowercased
    body: bytes

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


def exchange(port: int, request: bytes, timeout: float = 10.0) -> Answer:
    """Send `request` as it is to 127.0.0.1:`port` and read one answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer and close before taking it all: read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        return read_answer(sock)


def read_answer(sock: socket.socket) -> Answer:
    """Read one answer with a Content-Length (or up to the close) from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Answer(int(status_line.split(" ")[1]), headers, body if length < 0 else body[:length])


def chunked(body: bytes, size: int) -> bytes:
    """`body` in chunked framing, `size` bytes a chunk."""
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"".join(parts) + b"0\r\n\r\n"
