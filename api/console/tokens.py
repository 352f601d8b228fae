"""Signed tokens: portal links, the portal sessions they open, CSRF tokens."""

import hashlib
import hmac
import time
from dataclasses import dataclass

from flask import url_for
from itsdangerous import BadSignature, URLSafeSerializer

from api.services import services
from webhooks.errors import Unavailable

LINK_SALT = "webhooks.portal-link"
SESSION_SALT = "webhooks.portal-session"
NO_SECRET_KEY = (
    "the console and the portal are off: set WEBHOOKS_SECRET_KEY (32 or more random characters, "
    "the same in every API process) to sign their sessions"
)


@dataclass(frozen=True)
class PortalSession:
    """What a portal session token says: the tenant, and when it ends (Unix seconds)."""

    tenant: str
    expires: int


def require_secret_key() -> str:
    """The secret key; without one the console and portal answer 503 naming the setting."""
    key = services().settings.secret_key
    if key is None:
        raise Unavailable(NO_SECRET_KEY)
    return key


def link_url(link_id: str, ttl_seconds: int) -> str:
    """The absolute URL of a one-time portal link."""
    token = URLSafeSerializer(require_secret_key(), salt=LINK_SALT).dumps(link_id)
    return url_for("console.open_portal", token=token, _external=True)


def read_link(token: str) -> str | None:
    """The link id a link token carries, or None if the signature is wrong."""
    try:
        link_id = URLSafeSerializer(require_secret_key(), salt=LINK_SALT).loads(token)
    except BadSignature:
        return None
    return link_id if isinstance(link_id, str) else None


def session_token(tenant: str, expires: int) -> str:
    """A token for the portal's URLs: it works for `tenant` until `expires`."""
    serializer = URLSafeSerializer(require_secret_key(), salt=SESSION_SALT)
    return str(serializer.dumps([tenant, expires]))


def read_session(token: str) -> PortalSession | None:
    """The session a portal token opens, or None if forged or expired."""
    try:
        tenant, expires = URLSafeSerializer(require_secret_key(), salt=SESSION_SALT).loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(tenant, str) or not isinstance(expires, int) or expires <= time.time():
        return None
    return PortalSession(tenant, expires)


def csrf_for(token: str) -> str:
    """The CSRF token of a portal session: bound to it, so it cannot serve another."""
    key = require_secret_key().encode()
    return hmac.new(key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()[:32]
