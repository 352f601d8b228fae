"""Custom headers an endpoint sends with every attempt: which are allowed, how they are stored.

The stored form is written by `encode_headers` and read by `decode_headers` only: the names
in clear (`endpoints.header_names`, what the API shows), the whole map sealed
(`endpoints.headers`), since the values may be credentials for the receiver. Neither the API
nor the audit trail ever shows a value.
"""

import json
import re
from collections.abc import Mapping

from webhooks.errors import FieldError, InvalidInput
from webhooks.security.sealing import Keyring

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


def encode_headers(
    headers: Mapping[str, str], keyring: Keyring
) -> tuple[list[str] | None, str | None]:
    """The stored form of an endpoint's headers: their names, and the map sealed (or Nones)."""
    if not headers:
        return None, None
    return list(headers), keyring.seal(json.dumps(dict(headers), separators=(",", ":")))


def decode_headers(stored: str | None, keyring: Keyring) -> dict[str, str]:
    """An endpoint's headers from their sealed form (the keyring caches what it unsealed)."""
    if not stored:
        return {}
    decoded: dict[str, str] = json.loads(keyring.unseal(stored))
    return decoded


def shown_headers(names: list[str] | None) -> dict[str, str]:
    """An endpoint's headers as the API shows them: names, values masked."""
    return dict.fromkeys(names or (), MASK)
