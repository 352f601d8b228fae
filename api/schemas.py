"""Request and response models: they validate input and are the source of the OpenAPI document."""

import json
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from api.fields import (
    DeliveryStatus,
    Description,
    EventFilter,
    EventType,
    Headers,
    Input,
    Metadata,
    Name,
    Output,
    RateLimit,
    Secret,
    Timestamp,
    Url,
)
from api.http import id_pattern
from webhooks.endpoint_headers import MAX_HEADERS
from webhooks.models import ATTEMPT_OUTCOMES, DELIVERY_STATUSES

TRACEPARENT_DESCRIPTION = (
    "Send each attempt's W3C trace context (`traceparent`) when the service exports traces "
    "(OTEL_EXPORTER_OTLP_ENDPOINT)."
)
HEADERS_DESCRIPTION = (
    f"Sent with every attempt: at most {MAX_HEADERS}; not webhook-*, host, content-length, "
    "content-type, user-agent, hop-by-hop or proxy headers (422 names the refused one)."
)

# Endpoints


class EndpointCreate(Input):
    """Subscribe a URL to event types."""

    url: Url = Field(examples=["https://example.com/hook"])
    event_types: list[EventFilter] = Field(
        default_factory=list,
        max_length=256,
        description="Types to receive; empty means every type. `invoice.*` matches a prefix.",
    )
    tenant: Name | None = Field(None, description='Defaults to the key\'s tenant, else "default".')
    description: Description = ""
    secret: Secret | None = Field(
        None, description="`whsec_` + base64 of 24-64 bytes; generated if absent."
    )
    rate_limit: RateLimit | None = Field(None, description="null (the default) means unlimited.")
    metadata: Metadata = Field(default_factory=dict)
    headers: Headers = Field(default_factory=dict, description=HEADERS_DESCRIPTION)
    send_traceparent: StrictBool = Field(False, description=TRACEPARENT_DESCRIPTION)


# In a PATCH, None means "not given": of the fields below only rate_limit may be sent as null.
NOT_NULLABLE = (
    "url", "event_types", "tenant", "description", "secret", "metadata", "enabled", "headers",
    "send_traceparent",
)  # fmt: skip


def _only_rate_limit_nullable(schema: dict[str, Any]) -> None:
    # Document the fields that refuse null without it.
    for name, field_schema in schema["properties"].items():
        if name in NOT_NULLABLE and "anyOf" in field_schema:
            (kept,) = [s for s in field_schema.pop("anyOf") if s != {"type": "null"}]
            field_schema.pop("default", None)
            field_schema.update(kept)


class EndpointUpdate(Input):
    """Change any creatable field, or enable/disable the endpoint; absent fields stay as they are.

    Only `rate_limit` may be null (unlimited); a null anywhere else is refused.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_only_rate_limit_nullable)

    url: Url | None = None
    event_types: Annotated[list[EventFilter], Field(max_length=256)] | None = None
    tenant: Name | None = None
    description: Description | None = None
    secret: Secret | None = None
    rate_limit: RateLimit | None = Field(None, description="null means unlimited.")
    metadata: Metadata | None = None
    headers: Headers | None = Field(None, description="Replaces every custom header; {} clears.")
    send_traceparent: StrictBool | None = None
    enabled: StrictBool | None = Field(
        None, description="Enabling clears the reason and the failure streak."
    )

    @field_validator(*NOT_NULLABLE, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields present in the body: an explicit null is that field's error.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class EndpointOut(Output):
    """An endpoint; its secret is never part of it."""

    id: str
    url: str
    event_types: list[str]
    tenant: str
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description='"gone" (410), "failing" (streak), "manual".')
    rate_limit: int | None
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    headers: dict[str, str] = Field(description="Custom headers sent with every attempt.")
    send_traceparent: bool = Field(description=TRACEPARENT_DESCRIPTION)
    created_at: Timestamp
    updated_at: Timestamp


class EndpointCreated(EndpointOut):
    """The endpoint just created, with its secret (shown here and at /secret only)."""

    secret: str


class SecretOut(BaseModel):
    """An endpoint's signing secret."""

    secret: str


class RecoverIn(Input):
    """Re-send what failed since a time (at most 14 days back)."""

    since: AwareDatetime


class RecoverOut(BaseModel):
    """How many failed deliveries were made due again."""

    requeued: int


class StreakOut(BaseModel):
    """Failed attempts since the last success, and when the streak began."""

    failures: int
    since: Timestamp | None


class StatsOut(BaseModel):
    """The last 24 hours of an endpoint."""

    endpoint_id: str
    since: Timestamp
    deliveries: dict[str, int] = Field(description=f"By status: {', '.join(DELIVERY_STATUSES)}.")
    attempts: dict[str, int] = Field(description=f"By outcome: {', '.join(ATTEMPT_OUTCOMES)}.")
    failure_streak: StreakOut


# Events


class EventCreate(Input):
    """An event to fan out to every subscribed endpoint of its tenant."""

    type: EventType
    data: dict[str, Any] = Field(description="Any JSON object.")
    tenant: Name | None = None


class DeliveryRef(Output):
    """A delivery created for an event."""

    id: str
    endpoint_id: str


class EventAccepted(Output):
    """The stored event and the deliveries it fanned out to."""

    id: str
    type: str
    tenant: str
    created_at: Timestamp
    deliveries: list[DeliveryRef]


class EventSummary(Output):
    """An event in a list (without its data)."""

    id: str
    type: str
    tenant: str
    created_at: Timestamp


# Deliveries and attempts


class DeliveryOut(Output):
    """One event on its way to one endpoint."""

    id: str
    event_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: Timestamp | None
    last_status_code: int | None
    created_at: Timestamp
    updated_at: Timestamp


class EventOut(EventSummary):
    """An event with its data and the status of its deliveries."""

    data: dict[str, Any]
    deliveries: list[DeliveryOut]


class AttemptOut(Output):
    """One HTTP attempt, as the audit table recorded it."""

    id: str
    delivery_id: str
    number: int
    started_at: Timestamp
    duration_ms: float | None
    status_code: int | None
    response_body: str | None = Field(
        description="The start of the answer's body, at most 4096 bytes of UTF-8: text as it "
        "came, cut on a character boundary; a body that is not UTF-8 text (or holds a NUL, or "
        "itself begins with `base64:`) as `base64:` followed by the base64 of its first 3066 "
        "bytes. Null when there was no complete answer."
    )
    error: str | None = Field(
        description="timeout, connection_error, tls_error, dns_error, invalid_response, "
        "blocked_address, redirect_not_followed, worker_lost"
    )
    outcome: Literal["success", "failure"]
    request_headers: dict[str, str] | None = Field(
        description="The headers the service set on this attempt (the HTTP client adds host, "
        "user-agent, accept-encoding and content-length). Custom header values show as ***. "
        "null for an attempt lost with its worker."
    )

    @field_validator("request_headers", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


class AttemptList(BaseModel):
    """Every attempt of a delivery, oldest first."""

    data: list[AttemptOut]


# Lists and queries

Item = TypeVar("Item", bound=BaseModel)


class Page(BaseModel, Generic[Item]):
    """A page of a list, newest first."""

    data: list[Item]
    next_cursor: str | None


class PageQuery(Input):
    """Pagination."""

    limit: int = Field(50, ge=1, le=250)
    cursor: Annotated[str, StringConstraints(pattern=r"^[a-z]+_[0-9a-z]{26}$")] | None = None


class EndpointQuery(PageQuery):
    """Filters for the endpoint list."""

    tenant: Name | None = None
    enabled: bool | None = None


class EventQuery(PageQuery):
    """Filters for the event list."""

    type: EventType | None = None
    tenant: Name | None = None


class DeliveryQuery(PageQuery):
    """Filters for the delivery list."""

    endpoint_id: Annotated[str, StringConstraints(pattern=rf"^{id_pattern('ep')}$")] | None = None
    event_id: Annotated[str, StringConstraints(pattern=rf"^{id_pattern('evt')}$")] | None = None
    status: DeliveryStatus | None = None


# Operations and errors


class Health(BaseModel):
    """The process is up."""

    status: Literal["ok"]


class Readiness(BaseModel):
    """Whether the database and the broker answer."""

    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unavailable"]
    broker: Literal["ok", "unavailable"]


class ProblemItem(BaseModel):
    """What is wrong with one field."""

    loc: list[str | int]
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] | None = None
