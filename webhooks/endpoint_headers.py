"""Custom headers an endpoint sends with every attempt: which are allowed, how they are stored.

The stored form is one JSON text column (`endpoints.headers`), written by `encode_headers`
and read by `decode_headers` only: the values may be credentials for the receiver, so these
two are where they get sealed at rest and unsealed. The audit trail never holds the values.
"""

import json
import re
from collections.abc import Mapping

from webhooks.errors import FieldError, InvalidInput

MAX_HEADERS = 20
MAX_NAME_LENGTH = 256
MAX_VALUE_LENGTH = 4096
MASK = "***"
# RFC 9110 token characters.
NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Visible ASCII, spaces and tabs inside; no CR, LF or NUL (header injection).
VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?|")
# Set by the service or the HTTP client, or hop-by-hop: an endpoint may not override them.
RESERVED = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "user-agent",
        "accept-encoding",
        "traceparent",
        "tracestate",
    }
)
RESERVED_PREFIXES = ("webhook-", "proxy-", "x-forwarded-", "sec-")


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Return the headers if each may be sent; else InvalidInput naming every bad one."""
    errors: list[FieldError] = []
    if len(headers) > MAX_HEADERS:
        errors.append(FieldError(("headers",), f"at most {MAX_HEADERS} headers"))
    seen: set[str] = set()
    for name, value in headers.items():
        problem = _name_problem(name, seen) or _value_problem(value)
        if problem:
            errors.append(FieldError(("headers", name), problem))
        seen.add(name.lower())
    if errors:
        raise InvalidInput("the request has invalid fields", tuple(errors))
    return dict(headers)


def _name_problem(name: str, seen: set[str]) -> str | None:
    lowered = name.lower()
    if not 1 <= len(name) <= MAX_NAME_LENGTH or NAME.fullmatch(name) is None:
        return "not a valid header name"
    if lowered in RESERVED or lowered.startswith(RESERVED_PREFIXES):
        return f"{name} is reserved: the service or the HTTP client sets it"
    if lowered in seen:
        return "the same header twice (names are case-insensitive)"
    return None


def _value_problem(value: str) -> str | None:
    if len(value) > MAX_VALUE_LENGTH:
        return f"a header value is at most {MAX_VALUE_LENGTH} characters"
    if VALUE.fullmatch(value) is None:
        return "a header value is printable ASCII without leading or trailing spaces"
    return None


def encode_headers(headers: Mapping[str, str]) -> str | None:
    """The stored form of an endpoint's headers (None when there are none)."""
    return json.dumps(dict(headers), separators=(",", ":")) if headers else None


def decode_headers(stored: str | None) -> dict[str, str]:
    """An endpoint's headers from their stored form."""
    if not stored:
        return {}
    decoded: dict[str, str] = json.loads(stored)
    return decoded


def sent_headers(sent: Mapping[str, str], custom: Mapping[str, str]) -> str:
    """What an attempt's audit row keeps of the headers it sent: custom values masked."""
    shown = {name: MASK if name in custom else value for name, value in sent.items()}
    return json.dumps(shown, separators=(",", ":"))
