"""A receiver's answer: read to its end within the attempt, stored as text a person can read.

An answer counts once its body has ended: a status line followed by a body still arriving at
the deadline is a `timeout`, not a success. The body is read to its end but only its start is
kept; past READ_LIMIT bytes the rest is not waited for (the answer counts, the connection is
dropped), so a receiver streaming forever costs neither memory nor more than that bandwidth.
"""

import base64
import codecs
import http.client
from typing import NamedTuple

from urllib3.response import BaseHTTPResponse

from webhooks.models import RESPONSE_BODY_LIMIT

READ_LIMIT = 1 << 20  # bytes of any one body read before the rest is left unread
# A stored body starting with this is base64 of the body's first bytes: it was not UTF-8 text
# (or held a NUL, which PostgreSQL text refuses, or itself began with the marker).
BINARY_MARKER = "base64:"
# As many bytes as fit the stored limit once encoded: 4 characters for every 3 bytes.
_BINARY_BYTES = (RESPONSE_BODY_LIMIT - len(BINARY_MARKER)) // 4 * 3
_CHUNK = 65536


class Body(NamedTuple):
    """What was read of a body: its first bytes, how many bytes came, whether it ended."""

    start: bytes
    size: int
    ended: bool


def read_body(response: BaseHTTPResponse) -> Body:
    """Read the body to its end, or until READ_LIMIT bytes; keep only its start."""
    length = response.length_remaining
    if length is not None and length <= READ_LIMIT:
        # The common case, a short body of known length: one read.
        data = response.read(length)
        if len(data) < length:  # a buffered read comes back short only at the end of input
            raise http.client.IncompleteRead(data, length - len(data))
        return Body(data[:RESPONSE_BODY_LIMIT], length, True)
    kept = b""
    size = 0
    while size <= READ_LIMIT:
        chunk = response.read(_CHUNK)
        if not chunk:
            return Body(kept, size, True)
        if len(kept) < RESPONSE_BODY_LIMIT:
            kept += chunk[: RESPONSE_BODY_LIMIT - len(kept)]
        size += len(chunk)
    return Body(kept, size, False)


def stored_body(body: Body) -> str:
    """The form of a body the audit table keeps: at most RESPONSE_BODY_LIMIT bytes of UTF-8.

    Text is kept as it is, cut on a character boundary; anything else as BINARY_MARKER and
    the base64 of as many of its first bytes as fit.
    """
    start, whole = body.start, body.size == len(body.start)
    try:
        # Not final when cut: a character the limit split in half is dropped, not an error.
        text = codecs.getincrementaldecoder("utf-8")().decode(start, final=whole)
    except UnicodeDecodeError:
        text = None
    if text is not None and "\x00" not in text and not text.startswith(BINARY_MARKER):
        return text
    return BINARY_MARKER + base64.b64encode(start[:_BINARY_BYTES]).decode("ascii")
