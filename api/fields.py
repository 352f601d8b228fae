"""Field types and base models the schemas share: what a valid name, URL or secret is."""

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from webhooks import endpoint_headers as custom
from webhooks.config import MAX_IN_FLIGHT
from webhooks.events.matching import is_filter
from webhooks.models import DELIVERY_STATUSES
from webhooks.security.signing import SCHEMES, check_secret
from webhooks.security.urls import MAX_URL_LENGTH, URL_PATTERN, URL_RULE
from webhooks.times import rfc3339

Timestamp = Annotated[
    datetime,
    PlainSerializer(rfc3339, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-11-26T16:36:19.123Z"}
    ),
]
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,128}$")]
EventType = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_.\-]{1,128}$"),
    Field(examples=["invoice.paid"]),
]


def _check_filter(value: str) -> str:
    if not is_filter(value):
        raise ValueError("an event type, or a prefix ending in '.*' (invoice.*)")
    return value


def _check_secret(value: str) -> str:
    check_secret(value)  # raises ValueError with the reason
    return value


def _check_text(value: str) -> str:
    # PostgreSQL refuses NUL in text columns; refuse it here, as the field's error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


_B64 = "[A-Za-z0-9+/]"
# base64 of 24 to 64 bytes, exactly what secret_key() accepts; and of 32 bytes for whsk_.
HMAC_SECRET_PATTERN = (
    rf"^whsec_(?:(?:{_B64}{{4}}){{8,20}}(?:{_B64}{{2}}==|{_B64}{{3}}=)?"
    rf"|(?:{_B64}{{4}}){{21}}(?:{_B64}{{2}}==)?)$"
)
SIGNING_KEY_PATTERN = rf"^whsk_{_B64}{{43}}=$"
# No NUL (PostgreSQL refuses it in text); the pattern says so in the document.
Text = Annotated[
    str, AfterValidator(_check_text), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})
]
EventFilter = Annotated[
    str,
    AfterValidator(_check_filter),
    Field(json_schema_extra={"pattern": r"^[A-Za-z0-9_.\-]{1,128}(\.\*)?$"}),
]
Secret = Annotated[
    str,
    AfterValidator(_check_secret),
    Field(
        json_schema_extra={"pattern": f"{HMAC_SECRET_PATTERN}|{SIGNING_KEY_PATTERN}"},
        description="`whsec_` + base64 of 24-64 bytes (HMAC-SHA256), or `whsk_` + base64 of a "
        "32-byte Ed25519 private key.",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    ),
]
SignatureScheme = Literal["hmac-sha256", "ed25519"]
assert set(SignatureScheme.__args__) == set(SCHEMES)  # type: ignore[attr-defined]
# The pattern is checked by the URL policy (with a message a person can read), which also
# checks what no schema can: the host's addresses and the HTTPS requirement.
Url = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_URL_LENGTH),
    Field(description=URL_RULE, json_schema_extra={"pattern": URL_PATTERN}),
]
Description = Annotated[Text, StringConstraints(max_length=1024)]
Metadata = Annotated[dict[Text, Text], Field(max_length=50)]


def _any_case(text: str) -> str:
    # JSON Schema's regular expressions have no flags: spell case-insensitivity out.
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in text)


_RESERVED_NAME = "|".join(
    [f"^{_any_case(name)}$" for name in sorted(custom.RESERVED)]
    + [f"^{_any_case(prefix)}" for prefix in custom.RESERVED_PREFIXES]
)
# Which names and values may be sent is the core's rule (webhooks/endpoint_headers.py); the
# document says the same, but for one thing JSON Schema cannot: names are case-insensitive,
# so two that differ only in case are refused too.
Headers = Annotated[
    dict[str, str],
    Field(
        examples=[{"Authorization": "Bearer rk_live_..."}],
        json_schema_extra={
            "maxProperties": custom.MAX_HEADERS,
            "propertyNames": {
                "pattern": f"^{custom.NAME.pattern}$",
                "maxLength": custom.MAX_NAME_LENGTH,
                "not": {"pattern": _RESERVED_NAME},
            },
            "additionalProperties": {
                "type": "string",
                "maxLength": custom.MAX_VALUE_LENGTH,
                "pattern": f"^(?:{custom.VALUE.pattern})$",
            },
        },
    ),
]


def _whole_number(value: object) -> object:
    # JSON has one number type: 5.0 is the integer 5 to JSON Schema, so it is to us.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Integers in a JSON body: 5 or 5.0, never "5" or true. The bounds come before the validator,
# so that the document shows them as JSON Schema's.
RateLimit = Annotated[
    StrictInt,
    Field(ge=1, le=100_000, description="Most deliveries per second."),
    BeforeValidator(_whole_number),
]
MaxInFlight = Annotated[
    StrictInt,
    Field(ge=1, le=MAX_IN_FLIGHT, description="Most attempts in flight at once."),
    BeforeValidator(_whole_number),
]
LinkSeconds = Annotated[
    StrictInt,
    Field(ge=30, le=86400, description="How long the link, and the session it opens, last."),
    BeforeValidator(_whole_number),
]
DeliveryStatus = Literal["pending", "succeeded", "failed", "cancelled"]
assert set(DeliveryStatus.__args__) == set(DELIVERY_STATUSES)  # type: ignore[attr-defined]


class Input(BaseModel):
    """A request body: unknown fields are an error, so that typos don't pass silently."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response body, read from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
