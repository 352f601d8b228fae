"""Endpoints: create, change, disable, delete, rotate, with the rules each change carries."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks import operations
from webhooks.delivery.outcome import DisabledReason, cancel_pending, disable
from webhooks.endpoint_headers import check_headers, encode_headers
from webhooks.errors import BlockedAddress, InvalidInput
from webhooks.ids import new_id
from webhooks.models import ATTEMPT_OUTCOMES, DELIVERY_STATUSES, Attempt, Delivery, Endpoint
from webhooks.security.guard import NetworkGuard
from webhooks.security.signing import generate_secret

MAX_URL_LENGTH = 2048


@dataclass
class EndpointFields:
    """What a caller may set on an endpoint; None means "not given"."""

    url: str | None = None
    event_types: list[str] | None = None
    tenant: str | None = None
    description: str | None = None
    secret: str | None = None
    rate_limit: int | None = None
    metadata: dict[str, Any] | None = None
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    send_traceparent: bool | None = None
    given: set[str] = field(default_factory=set)  # fields present in the request, even as null


def check_url(url: str, guard: NetworkGuard) -> None:
    """Refuse a URL that is not http(s), too long, or literally a blocked address."""
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput.field(("url",), f"at most {MAX_URL_LENGTH} characters")
    if any(char.isspace() or not char.isprintable() for char in url):
        # urlsplit drops tabs and newlines silently: the host it checks would not be the
        # one stored. And PostgreSQL refuses NUL in text.
        raise InvalidInput.field(("url",), "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError as exc:
        raise InvalidInput.field(("url",), f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput.field(("url",), "must be an http or https URL with a host")
    try:
        guard.check_host(parts.hostname)
    except BlockedAddress as exc:
        raise InvalidInput.field(("url",), exc.detail) from None


def create_endpoint(
    session: Session, guard: NetworkGuard, fields: EndpointFields, now: datetime
) -> Endpoint:
    """Store a new endpoint; its secret is generated when none is given."""
    assert fields.url is not None
    check_url(fields.url, guard)
    endpoint = Endpoint(
        id=new_id("ep"),
        tenant=fields.tenant or "default",
        url=fields.url,
        description=fields.description or "",
        event_types=fields.event_types or [],
        secret=fields.secret or generate_secret(),
        enabled=True if fields.enabled is None else fields.enabled,
        disabled_reason=None if fields.enabled is not False else DisabledReason.MANUAL,
        rate_limit=fields.rate_limit,
        metadata_=fields.metadata or {},
        headers_stored=encode_headers(check_headers(fields.headers or {})),
        send_traceparent=bool(fields.send_traceparent),
        failure_count=0,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session,
    guard: NetworkGuard,
    endpoint: Endpoint,
    fields: EndpointFields,
    now: datetime,
    operations_tenant: str,
) -> Endpoint:
    """Apply the given fields; enabling clears the disabled reason and the failure streak.

    Enabling and disabling emit their operational events (webhooks/operations.py).
    """
    if fields.url is not None:
        check_url(fields.url, guard)
        endpoint.url = fields.url
    for name in ("event_types", "tenant", "description", "secret"):
        value = getattr(fields, name)
        if value is not None:
            setattr(endpoint, name, value)
    if "rate_limit" in fields.given:
        endpoint.rate_limit = fields.rate_limit
    if fields.metadata is not None:
        endpoint.metadata_ = fields.metadata
    if fields.headers is not None:
        endpoint.headers_stored = encode_headers(check_headers(fields.headers))
    if fields.send_traceparent is not None:
        endpoint.send_traceparent = fields.send_traceparent
    if fields.enabled is True and not endpoint.enabled:
        endpoint.enabled = True
        endpoint.disabled_reason = None
        endpoint.failure_count = 0
        endpoint.failing_since = None
        session.flush()
        operations.endpoint_enabled(session.connection(), operations_tenant, endpoint.id, now)
    elif fields.enabled is False and endpoint.enabled:
        session.flush()
        disable(session.connection(), endpoint.id, DisabledReason.MANUAL, now, operations_tenant)
        session.refresh(endpoint)
    endpoint.updated_at = now
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint: Endpoint, now: datetime) -> None:
    """Delete an endpoint: it vanishes from the API, its pending deliveries are cancelled."""
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.updated_at = now
    session.flush()
    cancel_pending(session.connection(), endpoint.id, now)


def rotate_secret(session: Session, endpoint: Endpoint, now: datetime, overlap: float) -> str:
    """Replace the secret; the old one keeps signing beside it for `overlap` seconds."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap)
    endpoint.secret = generate_secret()
    endpoint.updated_at = now
    session.flush()
    return endpoint.secret


def endpoint_stats(session: Session, endpoint: Endpoint, now: datetime) -> dict[str, Any]:
    """Count the last day's deliveries by status and attempts by outcome, and the streak."""
    since = now - timedelta(hours=24)
    # Rows are unpacked one by one: a Result has keys(), so dict.update() would take it
    # for a mapping of column names.
    by_status = dict.fromkeys(DELIVERY_STATUSES, 0)
    for status, number in session.execute(
        select(Delivery.status, func.count())
        .where(Delivery.endpoint_id == endpoint.id, Delivery.created_at >= since)
        .group_by(Delivery.status)
    ):
        by_status[status] = number
    by_outcome = dict.fromkeys(ATTEMPT_OUTCOMES, 0)
    for outcome, number in session.execute(
        select(Attempt.outcome, func.count())
        .where(Attempt.endpoint_id == endpoint.id, Attempt.started_at >= since)
        .group_by(Attempt.outcome)
    ):
        by_outcome[outcome] = number
    return {
        "endpoint_id": endpoint.id,
        "since": since,
        "deliveries": by_status,
        "attempts": by_outcome,
        "failure_streak": {
            "failures": endpoint.failure_count,
            "since": endpoint.failing_since,
        },
    }
