"""Bearer API keys: several at once for rotation, optionally bound to a tenant."""

import hashlib
import hmac

from flask import Flask, g, request

from api.errors import Unauthorized
from webhooks.config import ApiKey
from webhooks.errors import InvalidInput


def install_auth(app: Flask, keys: tuple[ApiKey, ...]) -> None:
    """Require a valid key on every /v1/ route and remember the tenant it is bound to."""
    digests = [(hashlib.sha256(key.key.encode()).digest(), key) for key in keys]

    @app.before_request
    def _authenticate() -> None:
        if not request.path.startswith("/v1/"):
            return
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


def key_tenant() -> str | None:
    """The tenant the caller's key is bound to, or None for an unbound key."""
    tenant: str | None = g.tenant
    return tenant


def tenant_for(requested: str | None) -> str:
    """The tenant a new object belongs to: as asked, else the key's own, else "default"."""
    bound = key_tenant()
    if bound is not None and requested not in (None, bound):
        raise InvalidInput.field(("tenant",), f"this API key may only use tenant {bound!r}")
    return requested or bound or "default"


def tenant_filter(requested: str | None) -> str | None:
    """The tenant a list is narrowed to: as asked (if the key may), else the key's own."""
    bound = key_tenant()
    if bound is not None and requested not in (None, bound):
        raise InvalidInput.field(("query", "tenant"), f"this API key may only use tenant {bound!r}")
    return requested or bound
