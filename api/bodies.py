"""Request bodies, bounded one way: over the limit is 413 before any parsing, however framed.

Werkzeug checks Content-Length against MAX_CONTENT_LENGTH, but reads a body of unknown length
(chunked, de-chunked by the server) only up to the limit and stops there without a word: the
app would parse a truncated body as if it were the one sent. Here such a body is read one byte
past the limit, and that byte makes it a 413.
"""

import io
from typing import IO

from flask import Request
from werkzeug.exceptions import LengthRequired, RequestEntityTooLarge
from werkzeug.utils import cached_property


class BoundedRequest(Request):
    """A request whose body is refused whole, never truncated, when it is over the limit."""

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        environ = self.environ
        if limit is None or environ.get("CONTENT_LENGTH"):
            return super().stream  # a declared length: Werkzeug's check is exact
        if "wsgi.input_terminated" not in environ:
            if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                # A server that passes chunked framing through: the body is unreadable here.
                raise LengthRequired("a chunked body needs a server that de-chunks it")
            return super().stream  # no body at all
        source = environ["wsgi.input"]
        data = b""
        while len(data) <= limit:
            chunk = source.read(limit + 1 - len(data))
            if not chunk:
                return io.BytesIO(data)
            data += chunk
        raise RequestEntityTooLarge()
