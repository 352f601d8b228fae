"""Who may call: the bearer key of every /v1 request and of a console session, and its tenant."""

from typing import TypeVar

from flask import g, request
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from api.services import services
from webhooks.apikeys import Caller, KeyChecker
from webhooks.errors import InvalidInput, NotFound
from webhooks.models import Delivery, Endpoint, Event

Owned = TypeVar("Owned", Endpoint, Event, Delivery)
_NOUNS: dict[type[Endpoint | Event | Delivery], str] = {
    Endpoint: "endpoint",
    Event: "event",
    Delivery: "delivery",
}


def check_key(token: str) -> Caller | None:
    """Check a presented API key: the one check of the API and of the console's sign-in."""
    checker: KeyChecker = services().keys
    return checker.by_key(token)


def recheck_key(key_id: str) -> Caller | None:
    """Check that the key behind a console session is still valid (revoked: None)."""
    checker: KeyChecker = services().keys
    return checker.by_id(key_id)


def authenticate() -> None:
    """The check every /v1 request passes: a valid key, whose tenant it remembers."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    caller = check_key(token.strip())
    if caller is None:
        raise Unauthorized("the API key is not valid")
    g.caller = caller
    g.tenant = caller.tenant


def require_unbound(action: str) -> None:
    """Refuse a tenant-bound key what only an unbound key may do (403)."""
    if key_tenant() is not None:
        raise Forbidden(f"only a key bound to no tenant may {action}")


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
