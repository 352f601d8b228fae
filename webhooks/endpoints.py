"""Endpoints: create, change, disable, delete, rotate, with the rules each change carries."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks import operations
from webhooks.delivery.streak import DisabledReason, cancel_pending, disable
from webhooks.endpoint_headers import check_headers, encode_headers
from webhooks.errors import InvalidInput
from webhooks.health import attempt_outcomes
from webhooks.ids import new_id
from webhooks.models import DELIVERY_STATUSES, Delivery, Endpoint
from webhooks.security.credentials import has_credentials, redact
from webhooks.security.sealing import Keyring
from webhooks.security.signing import ED25519, HMAC_SHA256, new_secret, public_key, scheme_of
from webhooks.security.urls import UrlPolicy


@dataclass
class EndpointFields:
    """What a caller may set on an endpoint; None means "not given"."""

    url: str | None = None
    event_types: list[str] | None = None
    tenant: str | None = None
    description: str | None = None
    signature_scheme: str | None = None
    secret: str | None = None
    rate_limit: int | None = None
    max_in_flight: int | None = None
    metadata: dict[str, Any] | None = None
    enabled: bool | None = None
    headers: dict[str, str] | None = None
    send_traceparent: bool | None = None
    given: set[str] = field(default_factory=set)  # fields present in the request, even as null


@dataclass(frozen=True)
class Registry:
    """What endpoint changes need besides the session: the URL policy and the keyring."""

    urls: UrlPolicy
    keyring: Keyring


def create_endpoint(
    session: Session, registry: Registry, fields: EndpointFields, now: datetime
) -> Endpoint:
    """Store a new endpoint; a secret of its signature scheme is generated when none is given."""
    assert fields.url is not None
    registry.urls.check(fields.url)
    scheme = fields.signature_scheme or (scheme_of(fields.secret) if fields.secret else HMAC_SHA256)
    if fields.secret is not None and scheme_of(fields.secret) != scheme:
        raise InvalidInput.field(
            ("secret",), f"a {scheme} endpoint's secret starts with {_PREFIX[scheme]!r}"
        )
    endpoint = Endpoint(
        id=new_id("ep"),
        tenant=fields.tenant or "default",
        description=fields.description or "",
        event_types=fields.event_types or [],
        enabled=True if fields.enabled is None else fields.enabled,
        disabled_reason=None if fields.enabled is not False else DisabledReason.MANUAL,
        rate_limit=fields.rate_limit,
        max_in_flight=fields.max_in_flight,
        metadata_=fields.metadata or {},
        send_traceparent=bool(fields.send_traceparent),
        failure_count=0,
        created_at=now,
        updated_at=now,
    )
    _set_url(endpoint, fields.url, registry.keyring)
    _set_secret(endpoint, fields.secret or new_secret(scheme), registry.keyring)
    _set_headers(endpoint, fields.headers or {}, registry.keyring)
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session,
    registry: Registry,
    endpoint: Endpoint,
    fields: EndpointFields,
    now: datetime,
    operations_tenant: str,
) -> Endpoint:
    """Apply the given fields; enabling clears the disabled reason and the failure streak.

    Enabling and disabling emit their operational events (webhooks/operations.py).
    """
    if fields.tenant is not None and fields.tenant != endpoint.tenant:
        # Its deliveries, attempts and secret belong to the tenant it was made in.
        raise InvalidInput.field(("tenant",), TENANT_IS_FIXED)
    if fields.url is not None:
        registry.urls.check(fields.url)
        _set_url(endpoint, fields.url, registry.keyring)
    if fields.secret is not None:
        _set_secret(endpoint, fields.secret, registry.keyring)
    for name in ("event_types", "description"):
        value = getattr(fields, name)
        if value is not None:
            setattr(endpoint, name, value)
    for name in ("rate_limit", "max_in_flight"):  # null is a value of theirs
        if name in fields.given:
            setattr(endpoint, name, getattr(fields, name))
    if fields.metadata is not None:
        endpoint.metadata_ = fields.metadata
    if fields.headers is not None:
        _set_headers(endpoint, fields.headers, registry.keyring)
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


TENANT_IS_FIXED = (
    "an endpoint stays in the tenant it was created in: create a new endpoint in the other "
    "tenant and delete this one"
)
_PREFIX = {HMAC_SHA256: "whsec_", ED25519: "whsk_"}


def _set_url(endpoint: Endpoint, url: str, keyring: Keyring) -> None:
    """Store the URL as shown, and sealed in full when it carries credentials."""
    endpoint.url = redact(url)
    endpoint.sealed_url = keyring.seal(url) if has_credentials(url) else None


def _set_headers(endpoint: Endpoint, headers: dict[str, str], keyring: Keyring) -> None:
    endpoint.header_names, endpoint.headers_stored = encode_headers(check_headers(headers), keyring)


def _set_secret(endpoint: Endpoint, secret: str, keyring: Keyring) -> None:
    """Seal the secret; its kind sets the scheme (and the public key of an ed25519 one)."""
    endpoint.signature_scheme = scheme_of(secret)
    endpoint.secret = keyring.seal(secret)
    endpoint.public_key = public_key(secret) if endpoint.signature_scheme == ED25519 else None


def shared_secret(endpoint: Endpoint, keyring: Keyring) -> str | None:
    """The secret a receiver verifies with: an HMAC endpoint's; None for an ed25519 one."""
    if endpoint.signature_scheme == ED25519:
        return None  # the private key never leaves the service; receivers get public_key
    return keyring.unseal(endpoint.secret)


def delete_endpoint(session: Session, endpoint: Endpoint, now: datetime) -> None:
    """Delete an endpoint: it vanishes from the API, its pending deliveries are cancelled."""
    endpoint.deleted_at = now
    endpoint.enabled = False
    endpoint.updated_at = now
    session.flush()
    cancel_pending(session.connection(), endpoint.id, now)


def rotate_secret(
    session: Session, keyring: Keyring, endpoint: Endpoint, now: datetime, overlap: float
) -> None:
    """Replace the secret (of the same scheme); the old one signs beside it for `overlap` s."""
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + timedelta(seconds=overlap)
    _set_secret(endpoint, new_secret(endpoint.signature_scheme), keyring)
    endpoint.updated_at = now
    session.flush()


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
    by_outcome = attempt_outcomes(session, [endpoint.id], since)[endpoint.id]
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
