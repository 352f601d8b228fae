"""Bearer API keys: several at once for rotation, optionally bound to a tenant."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from webhooks.config import ApiKey
from webhooks.errors import InvalidInput, NotFound
from webhooks.models import Delivery, Endpoint, Event

Owned = TypeVar("Owned", Endpoint, Event, Delivery)
_NOUNS: dict[type[Endpoint | Event | Delivery], str] = {
    Endpoint: "endpoint",
    Event: "event",
    Delivery: "delivery",
}


KEYS = "webhooks.keys"


@dataclass(frozen=True)
class Caller:
    """Whom a valid key speaks for: an identifier of the key (never the key) and its tenant."""

    key_id: str
    tenant: str | None


class KeyRing:
    """The valid keys; checked by the key itself (the API) or by its identifier (a session)."""

    def __init__(self, keys: tuple[ApiKey, ...], pepper: str | None) -> None:
        # The identifier is an HMAC of the key under the secret key: a session cookie that
        # carries it reveals nothing that would help guess a short key.
        salt = (pepper or "").encode()
        self._entries = [
            (
                hashlib.sha256(key.key.encode()).digest(),
                Caller(hmac.new(salt, key.key.encode(), "sha256").hexdigest()[:32], key.tenant),
            )
            for key in keys
        ]

    def check(self, token: str) -> Caller | None:
        """The caller a presented key belongs to, or None if it is not valid."""
        offered = hashlib.sha256(token.encode()).digest()
        found = None
        for digest, caller in self._entries:
            # Compare with every key, in constant time, so timing reveals nothing.
            if hmac.compare_digest(digest, offered):
                found = caller
        return found

    def recheck(self, key_id: str) -> Caller | None:
        """The caller of a key identified earlier, or None once that key is no longer valid."""
        found = None
        for _, caller in self._entries:
            if hmac.compare_digest(caller.key_id, key_id):
                found = caller
        return found


def install_keys(app: Flask, keys: tuple[ApiKey, ...], pepper: str | None) -> None:
    """Keep the app's valid keys where check_key and recheck_key find them."""
    app.extensions[KEYS] = KeyRing(keys, pepper)


def check_key(token: str) -> Caller | None:
    """Check a presented API key: the one check of the API and of the console's sign-in."""
    ring: KeyRing = current_app.extensions[KEYS]
    return ring.check(token)


def recheck_key(key_id: str) -> Caller | None:
    """Check that the key behind a console session is still valid (revoked: None)."""
    ring: KeyRing = current_app.extensions[KEYS]
    return ring.recheck(key_id)


def authenticate() -> None:
    """The check every /v1 request passes: a valid key, whose tenant it remembers."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
    caller = check_key(token.strip())
    if caller is None:
        raise Unauthorized("the API key is not valid")
    g.tenant = caller.tenant


def key_tenant() -> str | None:
    """The tenant the caller's key is bound to, or None for an unbound key."""
    tenant: str | None = g.tenant
    return tenant


def require_unbound(action: str) -> None:
    """Refuse a tenant-bound key what only an unbound key may do (403)."""
    if key_tenant() is not None:
        raise Forbidden(f"only a key bound to no tenant may {action}")


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
