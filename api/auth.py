"""Bearer API keys: several at once for rotation, optionally bound to a tenant."""

import hashlib
import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import g, request
from sqlalchemy.orm import Session

from api.errors import Unauthorized
from webhooks.config import ApiKey
from webhooks.errors import InvalidInput, NotFound
from webhooks.models import Delivery, Endpoint, Event

Owned = TypeVar("Owned", Endpoint, Event, Delivery)
_NOUNS: dict[type[Endpoint | Event | Delivery], str] = {
    Endpoint: "endpoint",
    Event: "event",
    Delivery: "delivery",
}


def authenticator(keys: tuple[ApiKey, ...]) -> Callable[[], None]:
    """Build the check every /v1 request passes: a valid key, whose tenant it remembers."""
    digests = [(hashlib.sha256(key.key.encode()).digest(), key) for key in keys]

    def authenticate() -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
        offered = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for digest, key in digests:
            # Compare with every key, in constant time, so timing reveals nothing.
            if hmac.compare_digest(digest, offered):
                found = key
        if found is None:
            raise Unauthorized("the API key is not valid")
        g.tenant = found.tenant

    return authenticate


def key_tenant() -> str | None:
    """The tenant the caller's key is bound to, or None for an unbound key."""
    tenant: str | None = g.tenant
    return tenant


def tenant_for(requested: str | None) -> str:
    """The tenant a new object belongs to: as asked, else the key's own, else "default"."""
    return _own_tenant(requested, ("tenant",)) or "default"


def tenant_filter(requested: str | None) -> str | None:
    """The tenant a list is narrowed to: as asked (if the key may), else the key's own."""
    return _own_tenant(requested, ("query", "tenant"))


def _own_tenant(requested: str | None, loc: tuple[str, ...]) -> str | None:
    bound = key_tenant()
    if bound is not None and requested not in (None, bound):
        raise InvalidInput.field(loc, f"this API key may only use tenant {bound!r}")
    return requested or bound


def visible(session: Session, model: type[Owned], object_id: str) -> Owned:
    """The object with this id if the caller's key may see it; else 404, as if it never was."""
    found = session.get(model, object_id)
    bound = key_tenant()
    # Deleted endpoints stay as rows for the audit trail, but are gone from the API.
    if (
        found is None
        or (bound is not None and found.tenant != bound)
        or getattr(found, "deleted_at", None) is not None
    ):
        raise NotFound(f"no {_NOUNS[model]} {object_id}")
    return found
