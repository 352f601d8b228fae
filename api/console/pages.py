"""What every console page shares: the layout's context, error pages, headers, form parsing."""

from typing import Any

from flask import Response, g, make_response, redirect, render_template, request, url_for
from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from api.console.blueprint import PORTAL, bp
from api.console.viewer import CSRF_FIELD, Viewer
from api.errors import STATUS_OF, field_errors
from api.services import services
from webhooks.errors import FieldError, WebhooksError
from webhooks.models import Endpoint

Model = type[BaseModel]
# Short, fixed notices a page shows after an action (never text taken from the URL).
NOTICES = {
    "created": "Endpoint created.",
    "saved": "Changes saved.",
    "enabled": "Endpoint enabled.",
    "disabled": "Endpoint disabled.",
    "deleted": "Endpoint deleted.",
    "rotated": "A new secret was issued; the old one keeps signing during the overlap.",
    "retried": "The delivery was queued to be sent again now.",
    "tested": "A test event was sent.",
    "recovered": "Failed deliveries were queued to be sent again.",
}


def render(template: str, status: int = 200, **context: Any) -> Response:
    """Render a page of the console with the layout's context."""
    return make_response(render_template(f"console/{template}", **context), status)


@bp.context_processor
def _layout() -> dict[str, Any]:
    settings = services().settings
    # An error raised before the viewer is known (no secret key) still renders a page.
    current = g.get("viewer") or Viewer("operator", None, False, "")
    return {
        "viewer": current,
        "portal": current.kind == "portal",
        "product": settings.portal_product_name if current.kind == "portal" else "webhooks",
        "csrf_field": CSRF_FIELD,
        "notice": NOTICES.get(request.args.get("done", "")),
        "here": (request.endpoint or "").partition(".")[2],
        "tenants": known_tenants,
    }


@bp.app_template_filter("duration")
def duration(seconds: float) -> str:
    """A wait as people say it: 45 s, 12 min, 3 h 20 min, 2 d 4 h."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


@bp.errorhandler(WebhooksError)
def _error_page(exc: WebhooksError) -> Response:
    status = STATUS_OF.get(type(exc), 400)
    return render("error.html", status, title=exc.title, detail=exc.detail, errors=exc.errors)


@bp.after_request
def _headers(response: Response) -> Response:
    """A strict Content-Security-Policy; the portal may be framed by the listed origins."""
    ancestors = "'none'"
    if request.blueprint == PORTAL and services().settings.portal_frame_ancestors:
        ancestors = " ".join(services().settings.portal_frame_ancestors)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    )
    if ancestors == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    # Portal URLs carry their session: never let them leak through a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def known_tenants() -> list[str]:
    """Tenants that have endpoints, for the switcher."""
    with services().sessions() as session:
        query = select(Endpoint.tenant).distinct().order_by(Endpoint.tenant).limit(500)
        return list(session.scalars(query))


def parse_form(model: Model, data: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """Validate form data with the JSON API's own schema; return it, or errors by field."""
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, errors_by_field(field_errors(exc))


def errors_by_field(errors: tuple[FieldError, ...]) -> dict[str, str]:
    """The first error of each top-level field, for showing beside it."""
    found: dict[str, str] = {}
    for error in errors:
        name = str(error.loc[0]) if error.loc else ""
        found.setdefault(name, error.msg)
    return found


def back_to(endpoint: str, done: str, **values: Any) -> BaseResponse:
    """Redirect (303) to a page of the same console, with a notice."""
    return redirect(url_for(f".{endpoint}", done=done, **values), 303)
