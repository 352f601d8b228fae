"""What an endpoint's page can do: enable, disable, delete, rotate, reveal, test, recover."""

from datetime import UTC, datetime

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from api.auth import visible
from api.console.blueprint import bp
from api.console.pages import back_to, render
from api.services import services
from webhooks import endpoints
from webhooks.delivery.redelivery import recover_endpoint
from webhooks.endpoints import EndpointFields
from webhooks.errors import Conflict, InvalidInput
from webhooks.events.matching import is_event_type, matches
from webhooks.models import Endpoint, EventType
from webhooks.times import utcnow


@bp.post("/endpoints/<id(ep):endpoint_id>/enable")
def endpoint_enable(endpoint_id: str) -> BaseResponse:
    """Enable an endpoint: its reason and failure streak are cleared."""
    return _set_enabled(endpoint_id, True)


@bp.post("/endpoints/<id(ep):endpoint_id>/disable")
def endpoint_disable(endpoint_id: str) -> BaseResponse:
    """Disable an endpoint: its pending deliveries are cancelled."""
    return _set_enabled(endpoint_id, False)


@bp.post("/endpoints/<id(ep):endpoint_id>/delete")
def endpoint_delete(endpoint_id: str) -> BaseResponse:
    """Delete an endpoint, as DELETE /v1/endpoints/{id} does."""
    with services().sessions.begin() as session:
        endpoints.delete_endpoint(session, visible(session, Endpoint, endpoint_id), utcnow())
    return back_to("endpoints_list", "deleted")


@bp.post("/endpoints/<id(ep):endpoint_id>/rotate")
def endpoint_rotate(endpoint_id: str) -> Response:
    """Issue a new secret and show it once."""
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        endpoints.rotate_secret(
            session, app.keyring, endpoint, utcnow(), app.settings.rotation_overlap_seconds
        )
        secret = endpoints.shared_secret(endpoint, app.keyring)
    return render("secret.html", endpoint=endpoint, secret=secret, rotated=True)


@bp.post("/endpoints/<id(ep):endpoint_id>/secret")
def endpoint_secret(endpoint_id: str) -> Response:
    """Reveal the signing secret (a POST, so that it never sits in a cached page or a log)."""
    app = services()
    with app.sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
    secret = endpoints.shared_secret(endpoint, app.keyring)
    # Rendered after the session ends: the layout reads the database too (SQLite allows one).
    return render("secret.html", endpoint=endpoint, secret=secret, rotated=False)


@bp.post("/endpoints/<id(ep):endpoint_id>/test")
def endpoint_test(endpoint_id: str) -> BaseResponse:
    """Send the catalogue's example of a type to this endpoint only, as POST /v1/events would."""
    event_type = request.form.get("event_type", "").strip()
    if not is_event_type(event_type):
        raise InvalidInput.field(("event_type",), "choose or type an event type")
    app = services()
    with app.sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        # Refused before anything is stored: an event nobody would receive is no test.
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled; enable it first")
        if not matches(endpoint.event_types, event_type):
            raise InvalidInput.field(("event_type",), "this endpoint is not subscribed to it")
        entry = session.get(EventType, event_type)
        data = dict(entry.example or {}) if entry is not None else {}
    published = app.publisher.publish(
        tenant=endpoint.tenant,
        event_type=event_type,
        data=data,
        now=utcnow(),
        require_known=app.settings.require_known_event_types,
        endpoint_id=endpoint.id,
    )
    if not published.deliveries:
        raise Conflict("nothing was sent: the endpoint was disabled meanwhile")
    app.intake.admit(published.deliveries)
    return back_to("delivery_page", "tested", delivery_id=published.deliveries[0].id)


@bp.post("/endpoints/<id(ep):endpoint_id>/recover")
def endpoint_recover(endpoint_id: str) -> BaseResponse:
    """Send again what failed since a time, as POST /v1/endpoints/{id}/recover does."""
    since = _local_time(request.form.get("since", ""))
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        recover_endpoint(
            session, endpoint, since, utcnow(), app.settings.scheduler_interval_seconds
        )
    return back_to("deliveries_list", "recovered", endpoint_id=endpoint_id, status="pending")


def _set_enabled(endpoint_id: str, enabled: bool) -> BaseResponse:
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        fields = EndpointFields(enabled=enabled, given={"enabled"})
        endpoints.update_endpoint(
            session, app.registry, endpoint, fields, utcnow(), app.settings.operations_tenant
        )
    return back_to("endpoint_page", "enabled" if enabled else "disabled", endpoint_id=endpoint_id)


def _local_time(raw: str) -> datetime:
    """A datetime-local field's value (the page says it is UTC)."""
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput.field(("since",), "a date and time, like 2026-11-26T09:00") from None
