"""Request and response models: they validate input and are the source of the OpenAPI document."""

from collections.abc import Callable
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
from pydantic.json_schema import SkipJsonSchema

from api.fields import (
    DeliveryStatus,
    Description,
    EventFilter,
    EventType,
    Headers,
    Input,
    LinkSeconds,
    MaxInFlight,
    Metadata,
    Name,
    Output,
    RateLimit,
    Secret,
    SignatureScheme,
    Timestamp,
    Url,
)
from webhooks.delivery.headers import read_recorded
from webhooks.endpoint_headers import MAX_HEADERS
from webhooks.endpoints import TENANT_IS_FIXED
from webhooks.ids import id_pattern
from webhooks.models import ATTEMPT_OUTCOMES, DELIVERY_STATUSES

TRACEPARENT_DESCRIPTION = (
    "Send each attempt's W3C trace context (`traceparent`) when the service exports traces "
    "(OTEL_EXPORTER_OTLP_ENDPOINT)."
)
MAX_IN_FLIGHT_DESCRIPTION = (
    "Most attempts in flight at once; null (the default) means "
    "WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT. An endpoint whose attempts time out is given "
    "fewer, down to one, until it answers again."
)
HEADERS_DESCRIPTION = (
    f"Sent with every attempt: at most {MAX_HEADERS}; not webhook-*, host, content-length, "
    "content-type, user-agent, hop-by-hop or proxy headers (422 names the refused one)."
)

# Endpoints


def _secret_matches_scheme(schema: dict[str, Any]) -> None:
    # A secret given with a scheme must be of that scheme: said here as the server checks it.
    schema["allOf"] = [
        {
            "if": {
                "properties": {"signature_scheme": {"const": scheme}},
                "required": ["signature_scheme"],
            },
            "then": {"properties": {"secret": {"pattern": f"^{prefix}"}}},
        }
        for scheme, prefix in (("hmac-sha256", "whsec_"), ("ed25519", "whsk_"))
    ]


class EndpointCreate(Input):
    """Subscribe a URL to event types."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_secret_matches_scheme)

    url: Url = Field(examples=["https://example.com/hook"])
    event_types: list[EventFilter] = Field(
        default_factory=list,
        max_length=256,
        description="Types to receive; empty means every type. `invoice.*` matches a prefix.",
    )
    tenant: Name | None = Field(None, description='Defaults to the key\'s tenant, else "default".')
    description: Description = ""
    signature_scheme: SignatureScheme | None = Field(
        None,
        description='"hmac-sha256" (`v1` signatures, a shared `whsec_` secret) or "ed25519" '
        "(`v1a`: receivers verify with the `whpk_` public key, which cannot forge). "
        "Default: the kind of `secret` if given, else hmac-sha256.",
    )
    secret: Secret | None = Field(
        None,
        description="`whsec_` + base64 of 24-64 bytes, or (ed25519) `whsk_` + base64 of a "
        "32-byte private key; generated if absent.",
    )
    rate_limit: RateLimit | None = Field(None, description="null (the default) means unlimited.")
    max_in_flight: MaxInFlight | None = Field(None, description=MAX_IN_FLIGHT_DESCRIPTION)
    metadata: Metadata = Field(default_factory=dict)
    headers: Headers = Field(default_factory=dict, description=HEADERS_DESCRIPTION)
    send_traceparent: StrictBool = Field(False, description=TRACEPARENT_DESCRIPTION)


# In a PATCH, None means "not given": the fields below may not be sent as null.
NOT_NULLABLE = (
    "url", "event_types", "description", "secret", "metadata", "enabled", "headers",
    "send_traceparent",
)  # fmt: skip


def _only_nullable(*nullable: str) -> Callable[[dict[str, Any]], None]:
    """Document as not nullable every field but these (None means "not given" elsewhere)."""

    def adjust(schema: dict[str, Any]) -> None:
        for name, field_schema in schema["properties"].items():
            if name not in nullable and "anyOf" in field_schema:
                (kept,) = [s for s in field_schema.pop("anyOf") if s != {"type": "null"}]
                field_schema.pop("default", None)
                field_schema.update(kept)

    return adjust


class EndpointUpdate(Input):
    """Change any creatable field but the tenant and the scheme, or enable/disable the endpoint.

    Absent fields stay as they are. Only `rate_limit` (unlimited) and `max_in_flight` (the
    default) may be null; a null anywhere else is refused. A `secret` replaces the current
    one at once, and its kind (`whsec_` or `whsk_`) becomes the endpoint's signature scheme.
    An endpoint stays in its tenant.
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_only_nullable("rate_limit", "max_in_flight")
    )

    url: Url | None = None
    event_types: Annotated[list[EventFilter], Field(max_length=256)] | None = None
    # Not part of the document: present only to refuse a move with a reason, not a bare
    # "extra field" (the document already forbids it through additionalProperties).
    tenant: SkipJsonSchema[Any] = None
    description: Description | None = None
    secret: Secret | None = None
    rate_limit: RateLimit | None = Field(None, description="null means unlimited.")
    max_in_flight: MaxInFlight | None = Field(None, description=MAX_IN_FLIGHT_DESCRIPTION)
    metadata: Metadata | None = None
    headers: Headers | None = Field(None, description="Replaces every custom header; {} clears.")
    send_traceparent: StrictBool | None = None
    enabled: StrictBool | None = Field(
        None, description="Enabling clears the reason and the failure streak."
    )

    @field_validator("tenant", mode="before")
    @classmethod
    def _tenant_is_fixed(cls, value: Any) -> Any:
        raise ValueError(TENANT_IS_FIXED)

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
    url: str = Field(description="A password in the URL is shown as `***`.")
    event_types: list[str]
    tenant: str
    description: str
    enabled: bool
    disabled_reason: str | None = Field(description='"gone" (410), "failing" (streak), "manual".')
    rate_limit: int | None
    max_in_flight: int | None = Field(
        description="null: the service's default (WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT)."
    )
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    headers: dict[str, str] = Field(
        description="Custom headers sent with every attempt; values are sealed at rest and "
        'shown as "***" (send the whole map again to change them).'
    )
    send_traceparent: bool = Field(description=TRACEPARENT_DESCRIPTION)
    signature_scheme: SignatureScheme
    public_key: str | None = Field(
        description="ed25519 endpoints: the `whpk_` key that verifies their `v1a` signatures."
    )
    created_at: Timestamp
    updated_at: Timestamp


class EndpointCreated(EndpointOut):
    """The endpoint just created, with its secret (shown here and at /secret only)."""

    secret: str | None = Field(
        description="hmac-sha256 endpoints: the `whsec_` secret; null for ed25519 ones, whose "
        "receivers verify with `public_key`."
    )


class SecretOut(BaseModel):
    """What a receiver verifies signatures with: the shared secret, or the public key."""

    signature_scheme: SignatureScheme
    secret: str | None = Field(description="hmac-sha256: the `whsec_` secret; else null.")
    public_key: str | None = Field(description="ed25519: the `whpk_` public key; else null.")


class RecoverIn(Input):
    """Re-send what failed since a time (at most 14 days back)."""

    since: AwareDatetime = Field(
        description="With a time zone; at most 14 days before now and not after it (422 "
        "otherwise: JSON Schema cannot say 'now')."
    )


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
        return read_recorded(value) if isinstance(value, str) else value


class AttemptList(BaseModel):
    """Every attempt of a delivery, oldest first."""

    data: list[AttemptOut]


# API keys


class ApiKeyCreate(Input):
    """A new API key: bound to one tenant, or (null) to every tenant."""

    tenant: Name | None = Field(None, description="null: the key sees and manages every tenant.")
    description: Description = ""


class ApiKeyOut(Output):
    """An API key as listed: never the key itself."""

    id: str
    prefix: str = Field(description="The key's first characters, to recognise it.")
    tenant: str | None
    description: str
    created_at: Timestamp
    last_used_at: Timestamp | None = Field(description="Updated at most once a minute.")


class ApiKeyCreated(Output):
    """The key just made: `key` is shown here once and never again."""

    id: str
    key: str
    prefix: str
    tenant: str | None
    description: str
    created_at: Timestamp


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


# The event-type catalogue

DataSchema = Annotated[
    dict[str, Any] | None,
    Field(
        alias="schema",
        description="A JSON Schema (2020-12) for the event's `data`; events that break it get 422.",
    ),
]
Example = Annotated[
    dict[str, Any] | None,
    Field(description='An example `data`; what the console\'s "send a test event" sends.'),
]


class EventTypeCreate(Input):
    """Add an event type to the catalogue."""

    name: EventType
    description: Description = ""
    data_schema: DataSchema = None
    example: Example = None
    archived: StrictBool = False


class EventTypeUpdate(Input):
    """Change a catalogue entry; `schema` and `example` may be null to remove them."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_only_nullable("schema", "example"))

    description: Description | None = None
    data_schema: DataSchema = None
    example: Example = None
    archived: StrictBool | None = None

    @field_validator("description", "archived", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep its value")
        return value


class EventTypeOut(Output):
    """An entry of the event-type catalogue."""

    model_config = ConfigDict(from_attributes=True, serialize_by_alias=True)

    name: str
    description: str
    data_schema: DataSchema
    example: Example
    archived: bool
    created_at: Timestamp
    updated_at: Timestamp


class EventTypePage(BaseModel):
    """A page of the catalogue, by name."""

    data: list[EventTypeOut]
    next_cursor: str | None = Field(description="The `cursor` of the next page.")


class EventTypeQuery(Input):
    """Pagination and filters for the catalogue."""

    limit: int = Field(100, ge=1, le=250)
    cursor: EventType | None = Field(None, description="Names after this one.")
    archived: bool = Field(False, description="Include archived types.")


# The customer portal


class PortalSessionCreate(Input):
    """Open the console to one tenant, without an API key."""

    tenant: Name
    ttl_seconds: LinkSeconds = 3600


class PortalSessionOut(BaseModel):
    """A one-time link into the portal."""

    url: str = Field(description="Open it once, before `expires_at`; embed it in an iframe.")
    expires_at: Timestamp
