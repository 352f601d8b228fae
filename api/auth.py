"""Bearer API keys, the one place they are checked: configured ones, then those made at runtime."""

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from flask import g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.errors import Forbidden, Unauthorized
from webhooks.apikeys import find_key, key_by_id
from webhooks.config import ApiKey
from webhooks.errors import InvalidInput, NotFound
from webhooks.models import Delivery, Endpoint, Event
from webhooks.times import utcnow

Owned = TypeVar("Owned", Endpoint, Event, Delivery)
_NOUNS: dict[type[Endpoint | Event | Delivery], str] = {
    Endpoint: "endpoint",
    Event: "event",
    Delivery: "delivery",
}
CONFIGURED_PREFIX = "env_"


@dataclass(frozen=True)
class Caller:
    """Who sends a request: the key's id and the tenant it is bound to (None: every tenant).

    A configured key's id is `env_` and a fingerprint of it; a runtime key's is its `key_` id.
    """

    key_id: str
    tenant: str | None


class KeyChecker:
    """Check keys: those of WEBHOOKS_API_KEYS in memory, the others in the database.

    Nothing is cached: a key deleted in one process is refused by every process at once.
    """

    def __init__(
        self,
        configured: tuple[ApiKey, ...],
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.configured = [
            (hashlib.sha256(key.key.encode()).digest(), _configured_id(key.key), key)
            for key in configured
        ]
        self.engine = engine
        self.clock = clock

    def by_key(self, key: str) -> Caller | None:
        """The caller a bearer key stands for, or None if it is no valid key."""
        offered = hashlib.sha256(key.encode()).digest()
        found = None
        for digest, key_id, configured in self.configured:
            # Compare with every key, in constant time, so timing reveals nothing.
            if hmac.compare_digest(digest, offered):
                found = Caller(key_id, configured.tenant)
        if found is not None:
            return found
        with self.engine.connect() as conn:
            stored = find_key(conn, key, self.clock())
        return None if stored is None else Caller(stored.id, stored.tenant)

    def by_id(self, key_id: str) -> Caller | None:
        """Check again a caller remembered by key id (a console session): None once revoked."""
        if key_id.startswith(CONFIGURED_PREFIX):
            for _, configured_id, configured in self.configured:
                if hmac.compare_digest(configured_id, key_id):
                    return Caller(configured_id, configured.tenant)
            return None
        with self.engine.connect() as conn:
            stored = key_by_id(conn, key_id)
        return None if stored is None else Caller(stored.id, stored.tenant)


def _configured_id(key: str) -> str:
    return CONFIGURED_PREFIX + hashlib.sha256(b"webhooks-key-id:" + key.encode()).hexdigest()[:16]


def authenticator(checker: KeyChecker) -> Callable[[], None]:
    """Build the check every /v1 request passes: a valid key, whose tenant it remembers."""

    def authenticate() -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send the API key as 'Authorization: Bearer <key>'")
        caller = checker.by_key(token.strip())
        if caller is None:
            raise Unauthorized("the API key is not valid")
        g.caller = caller
        g.tenant = caller.tenant

    return authenticate


def require_unbound() -> None:
    """Refuse a tenant-bound key: only a key that sees every tenant may manage keys."""
    if key_tenant() is not None:
        raise Forbidden("only an API key bound to no tenant may manage API keys")


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
