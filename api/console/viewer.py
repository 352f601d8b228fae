"""Who is looking: an operator signed in with an API key, or a tenant holding a portal link."""

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from flask import Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response as BaseResponse

from api.auth import recheck_key
from api.console.blueprint import PORTAL, bp
from api.console.tokens import csrf_for, read_session, require_secret_key
from api.errors import Forbidden
from webhooks.apikeys import Caller
from webhooks.errors import NotFound

# A console session ends after this long, however active; signing in again starts another.
SESSION_SECONDS = 12 * 3600
# Pages a portal user never reaches: they would show other tenants or the operator's tools.
OPERATOR_ONLY = {
    "overview",
    "sign_in",
    "sign_in_post",
    "sign_out",
    "switch_tenant",
    "event_types",
    "open_portal",
}
# Pages that need no session.
OPEN = {"sign_in", "sign_in_post", "open_portal", "static", "theme"}
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Viewer:
    """The person using the console, and the tenant its pages are narrowed to (None: all)."""

    kind: Literal["operator", "portal"]
    tenant: str | None
    may_switch: bool  # an unbound key: every tenant, one at a time or all at once
    csrf: str


class ConsoleSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the page was reached over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        # Behind a proxy that ends TLS the request arrives as http: its header tells.
        return request.is_secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def viewer() -> Viewer:
    """The viewer of the current console request."""
    found: Viewer = g.viewer
    return found


def sign_in(caller: Caller) -> None:
    """Start an operator session; it keeps the key's identifier, never the key."""
    session.clear()
    session["key_id"] = caller.key_id
    session["since"] = int(time.time())
    session["csrf"] = secrets.token_urlsafe(24)


@bp.url_value_preprocessor
def _take_portal_token(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.portal_token = (values or {}).pop("portal", None)


@bp.url_defaults
def _keep_portal_token(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint.startswith(f"{PORTAL}.") and "portal" not in values:
        values["portal"] = g.portal_token


@bp.before_request
def _identify() -> BaseResponse | None:
    require_secret_key()
    name = (request.endpoint or "").partition(".")[2]
    if request.blueprint == PORTAL:
        if name in OPERATOR_ONLY:
            raise NotFound("no such page in the portal")
        opened = read_session(g.portal_token or "")
        if opened is None:
            raise NotFound("this portal link has expired: ask for a new one")
        g.viewer = Viewer("portal", opened.tenant, False, csrf_for(g.portal_token))
    elif name in OPEN:
        g.viewer = Viewer("operator", None, False, _session_csrf())
    else:
        caller = _signed_in()
        if caller is None:
            session.clear()
            return redirect(url_for("console.sign_in", next=request.full_path))
        tenant = caller.tenant if caller.tenant is not None else session.get("tenant")
        g.viewer = Viewer("operator", tenant, caller.tenant is None, session["csrf"])
    # The helpers of the JSON API (api/auth.py) narrow every query to this tenant.
    g.tenant = g.viewer.tenant
    if request.method == "POST":
        offered = request.form.get(CSRF_FIELD, "")
        if not hmac.compare_digest(offered.encode(), g.viewer.csrf.encode()):
            raise Forbidden("the form had expired or did not come from this console: try again")
    return None


def _signed_in() -> Caller | None:
    """The caller of the session's key, if the session is fresh and the key still valid."""
    key_id, since = session.get("key_id"), session.get("since")
    if not isinstance(key_id, str) or not isinstance(since, int):
        return None
    if time.time() - since > SESSION_SECONDS:
        return None
    return recheck_key(key_id)


def _session_csrf() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    token: str = session["csrf"]
    return token
