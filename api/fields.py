"""Field types and base models the schemas share: what a valid name, URL or secret is."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictInt,
    StringConstraints,
    WithJsonSchema,
)

from webhooks.events.matching import is_filter
from webhooks.models import DELIVERY_STATUSES
from webhooks.security.signing import secret_key
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
    secret_key(value)  # raises ValueError with the reason
    return value


def _check_text(value: str) -> str:
    # PostgreSQL refuses NUL in text columns; refuse it here, as the field's error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_check_text)]
EventFilter = Annotated[str, AfterValidator(_check_filter)]
Secret = Annotated[
    str, AfterValidator(_check_secret), Field(examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
]
Url = Annotated[Text, StringConstraints(min_length=1, max_length=2048)]
Description = Annotated[Text, StringConstraints(max_length=1024)]
Metadata = Annotated[dict[Text, Text], Field(max_length=50)]
# Which names and values may be sent is the core's rule (webhooks/endpoint_headers.py).
Headers = Annotated[dict[str, str], Field(examples=[{"Authorization": "Bearer rk_live_..."}])]
RateLimit = Annotated[StrictInt, Field(ge=1, le=100_000, description="Most deliveries per second.")]
DeliveryStatus = Literal["pending", "succeeded", "failed", "cancelled"]
assert set(DeliveryStatus.__args__) == set(DELIVERY_STATUSES)  # type: ignore[attr-defined]


class Input(BaseModel):
    """A request body: unknown fields are an error, so that typos don't pass silently."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response body, read from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
