"""Getting in and out: sign-in with a key, sign-out, the tenant switcher, portal links, theme."""

from urllib.parse import urlsplit

from flask import Response, redirect, request, session, url_for
from werkzeug.wrappers import Response as BaseResponse

from api.auth import check_key
from api.console.blueprint import bp
from api.console.pages import render
from api.console.tokens import read_link, session_token
from api.console.viewer import sign_in as start_session
from api.console.viewer import viewer
from api.services import services
from webhooks.errors import InvalidInput, NotFound
from webhooks.events.matching import is_event_type
from webhooks.portal import use_link
from webhooks.times import utcnow


@bp.get("/sign-in")
def sign_in() -> Response:
    """Ask for an API key."""
    return render("sign_in.html", next=_safe_next(request.args.get("next")))


@bp.post("/sign-in")
def sign_in_post() -> Response | BaseResponse:
    """Exchange a valid API key for a session cookie; the key itself is not kept."""
    caller = check_key(request.form.get("api_key", "").strip())
    target = _safe_next(request.form.get("next"))
    if caller is None:
        return render("sign_in.html", 401, next=target, error="That API key is not valid.")
    start_session(caller)
    return redirect(target, 303)


@bp.post("/sign-out")
def sign_out() -> BaseResponse:
    """End the session."""
    session.clear()
    return redirect(url_for("console.sign_in"), 303)


@bp.post("/tenant")
def switch_tenant() -> BaseResponse:
    """Narrow every page to one tenant, or show them all (unbound keys only)."""
    if not viewer().may_switch:
        raise NotFound("this key sees one tenant only")
    tenant = request.form.get("tenant", "").strip()
    if tenant and not is_event_type(tenant):  # a tenant name has the same shape
        raise InvalidInput.field(("tenant",), "not a tenant name")
    session["tenant"] = tenant or None
    return redirect(_safe_next(request.form.get("next")), 303)


@bp.get("/portal/<token>")
def open_portal(token: str) -> BaseResponse:
    """Spend a one-time link and open the portal for its tenant."""
    link_id = read_link(token)
    with services().sessions.begin() as db:
        link = use_link(db, link_id, utcnow()) if link_id is not None else None
        if link is None:
            raise NotFound("this portal link was already used or has expired: ask for a new one")
        portal = session_token(link.tenant, int(link.expires_at.timestamp()))
    return redirect(url_for("portal.endpoints_list", portal=portal), 303)


@bp.get("/theme.css")
def theme() -> Response:
    """The accent colour from the settings, as a style sheet (the CSP allows no inline style)."""
    accent = services().settings.portal_accent_color
    response = Response(f":root {{ --accent: {accent}; }}\n", mimetype="text/css")
    response.headers["Cache-Control"] = "max-age=300"
    return response


def _safe_next(target: str | None) -> str:
    """A path inside the console to go back to; anything else (another site) goes home."""
    if target and target.startswith("/console") and not urlsplit(target).netloc:
        return target
    return url_for("console.overview")
