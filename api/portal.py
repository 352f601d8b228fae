"""/v1/portal-sessions: one-time links that open the console to one tenant, without a key."""

from flask import Blueprint, Response

from api.auth import require_unbound
from api.console.tokens import link_url, require_secret_key
from api.http import json_body, respond
from api.openapi import documented
from api.schemas import PortalSessionCreate, PortalSessionOut
from api.services import services
from webhooks.portal import create_link
from webhooks.times import utcnow

bp = Blueprint("portal_sessions", __name__, url_prefix="/portal-sessions")


@bp.post("")
@documented(
    "Open the portal to a tenant",
    PortalSessionOut,
    status=201,
    body=PortalSessionCreate,
    errors=(403,),
)
def create() -> Response:
    """Return a signed link that works once, before it expires, for that tenant only."""
    require_unbound("open a portal session")
    require_secret_key()
    body = json_body(PortalSessionCreate)
    with services().sessions.begin() as session:
        link = create_link(session, body.tenant, body.ttl_seconds, utcnow())
        out = PortalSessionOut(url=link_url(link.id, body.ttl_seconds), expires_at=link.expires_at)
    return respond(out, 201)
