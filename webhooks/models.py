"""The tables: endpoints, events, deliveries, attempts (the audit), API keys, catalogue, portal."""

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from webhooks.endpoint_headers import shown_headers

PENDING, SUCCEEDED, FAILED, CANCELLED = "pending", "succeeded", "failed", "cancelled"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED, CANCELLED)
ATTEMPT_OUTCOMES = ("success", "failure")
RESPONSE_BODY_LIMIT = 4096

JsonValue = JSON().with_variant(JSONB(), "postgresql")
# Constraint names are fixed so that migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC time")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names."""

    metadata = MetaData(naming_convention=NAMING)


class Endpoint(Base):
    """A subscriber: a URL, the event types it wants, the secret that signs its webhooks."""

    __tablename__ = "endpoints"
    __table_args__ = (Index("ix_endpoints_tenant_enabled", "tenant", "enabled", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    # As shown: a password in the URL is replaced by `***` (the real URL is in sealed_url).
    url: Mapped[str] = mapped_column(String(2048))
    # The URL with its credentials, sealed; NULL when the URL has none (then `url` is it).
    sealed_url: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    event_types: Mapped[list[str]] = mapped_column(JsonValue, default=list)
    # "hmac-sha256" (a whsec_ secret) or "ed25519" (a whsk_ signing key), sealed either way.
    signature_scheme: Mapped[str] = mapped_column(String(16), default="hmac-sha256")
    secret: Mapped[str] = mapped_column(Text)
    # The whpk_ key that verifies an ed25519 endpoint's signatures; public, so in clear.
    public_key: Mapped[str | None] = mapped_column(String(64))
    # During a rotation the old secret signs beside the new one until it expires.
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    rate_limit: Mapped[int | None] = mapped_column(Integer)
    # Attempts in flight at once; None: WEBHOOKS_MAX_IN_FLIGHT_PER_ENDPOINT.
    max_in_flight: Mapped[int | None] = mapped_column(Integer)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JsonValue, default=dict)
    # The failure streak: failed attempts since the last success, and when it began.
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Deleted endpoints stay as rows so that the audit trail keeps its references.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Custom headers, in the form webhooks/endpoint_headers.py alone writes and reads: their
    # names in clear, the whole map sealed (the values may be the receiver's credentials).
    header_names: Mapped[list[str] | None] = mapped_column(JSON)
    headers_stored: Mapped[str | None] = mapped_column("headers", Text)
    # Send the attempt's W3C `traceparent` header (when tracing is on).
    send_traceparent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def headers(self) -> dict[str, str]:
        """The custom headers sent with every attempt, as shown: values masked."""
        return shown_headers(self.header_names)


class Event(Base):
    """One event as received; `payload` holds the exact bytes every attempt signs and sends."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("tenant", "idempotency_key", name="uq_events_tenant_idempotency_key"),
        Index("ix_events_tenant_id", "tenant", "id"),
        Index("ix_events_type_id", "type", "id"),
        # Retention: the oldest events first.
        Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(128))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # sha256 of the canonical request, to tell a replay from a conflicting reuse of a key.
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """One event on its way to one endpoint; the unit the worker claims."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_deliveries_event_endpoint"),
        Index("ix_deliveries_endpoint_id", "endpoint_id", "id"),
        Index("ix_deliveries_status_id", "status", "id"),
        # Carrying status and created_at: one tenant's overview counts from the index alone.
        Index(
            "ix_deliveries_tenant_id",
            "tenant",
            "id",
            postgresql_include=["status", "created_at"],
        ),
        Index("ix_deliveries_endpoint_created", "endpoint_id", "created_at"),
        # The reaper's scan: only the few rows an attempt holds.
        Index(
            "ix_deliveries_leased",
            "lease_expires_at",
            postgresql_where=text("lease_expires_at IS NOT NULL"),
            sqlite_where=text("lease_expires_at IS NOT NULL"),
        ),
        # Retention's scan: only finished rows, by when they finished.
        Index(
            "ix_deliveries_finished",
            "updated_at",
            postgresql_where=text("status <> 'pending'"),
            sqlite_where=text("status <> 'pending'"),
        ),
        # The scheduler's scan: only pending rows free to go, by due time.
        Index(
            "ix_deliveries_pending_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending' AND NOT held"),
            sqlite_where=text("status = 'pending' AND NOT held"),
        ),
        # Deliveries held behind their endpoint's rate limit or cap, released per endpoint.
        Index(
            "ix_deliveries_held",
            "endpoint_id",
            "next_attempt_at",
            postgresql_where=text("held"),
            sqlite_where=text("held"),
        ),
        # One tenant's backlog (the console's overview), from the index alone.
        Index(
            "ix_deliveries_pending_tenant",
            "tenant",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id"))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # attempt_count when the current run of the schedule began (a manual retry starts a run).
    run_start: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    # The claim: who holds the delivery and until when (SQL is the source of truth).
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the task last put on the queue is expected to run; the scheduler's requeue mark.
    queued_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Waiting in SQL for room at its endpoint (rate limit or cap): released per endpoint.
    held: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Attempt(Base):
    """The audit trail: one row per HTTP attempt, never updated by the API."""

    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "number", name="uq_attempts_delivery_number"),
        Index("ix_attempts_endpoint_started", "endpoint_id", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("deliveries.id"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("endpoints.id"))
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))
    # The headers the service set, as JSON; custom header values masked, never a secret.
    request_headers: Mapped[str | None] = mapped_column(Text)


class ApiKeyRecord(Base):
    """An API key made at runtime; only its SHA-256 is stored, the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    tenant: Mapped[str | None] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventType(Base):
    """An entry of the event-type catalogue: what a type means, its data's schema, an example."""

    __tablename__ = "event_types"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # A JSON Schema for the event's `data`; events of this type that break it are refused.
    # Plain JSON, not JSONB: JSONB cannot hold a string with a NUL, which a schema may name.
    schema: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # What "send a test event" sends.
    example: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PortalLink(Base):
    """A one-time link into the console for one tenant; `used_at` is set when it is opened."""

    __tablename__ = "portal_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Core table handles for the hot paths, which skip the ORM's unit of work.
endpoints_table = cast(Table, Endpoint.__table__)
events_table = cast(Table, Event.__table__)
deliveries_table = cast(Table, Delivery.__table__)
attempts_table = cast(Table, Attempt.__table__)
api_keys_table = cast(Table, ApiKeyRecord.__table__)
event_types_table = cast(Table, EventType.__table__)
