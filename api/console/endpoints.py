"""Endpoints: the list with their health, one endpoint's page, creating and editing."""

from datetime import timedelta

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from api.auth import tenant_for, visible
from api.console.blueprint import bp
from api.console.forms import endpoint_data, endpoint_values
from api.console.pages import back_to, errors_by_field, parse_form, render
from api.console.viewer import viewer
from api.schemas import EndpointCreate, EndpointUpdate
from api.services import services
from webhooks import endpoints
from webhooks.endpoints import EndpointFields
from webhooks.errors import InvalidInput
from webhooks.events.catalogue import list_types
from webhooks.events.matching import matches
from webhooks.health import endpoint_health
from webhooks.lists import DeliveryFilter, EndpointFilter, deliveries_query, endpoints_query
from webhooks.lists import paginate as page_of
from webhooks.models import Delivery, Endpoint
from webhooks.times import utcnow

PAGE = 50
STATES = {
    "enabled": EndpointFilter(enabled=True),
    "disabled": EndpointFilter(enabled=False),
    "failing": EndpointFilter(enabled=True, failing=True),
}


@bp.get("/endpoints")
def endpoints_list() -> Response:
    """List endpoints with their health over the last 24 hours."""
    state = request.args.get("state", "")
    chosen = STATES.get(state, EndpointFilter())
    where = EndpointFilter(viewer().tenant, chosen.enabled, chosen.failing)
    now = utcnow()
    with services().sessions() as session:
        rows, cursor = page_of(
            session, endpoints_query(where), Endpoint.id, PAGE, request.args.get("cursor")
        )
        health = endpoint_health(session, rows, now - timedelta(hours=24))
    return render("endpoints.html", rows=rows, health=health, cursor=cursor, state=state)


@bp.get("/endpoints/new")
def endpoint_new() -> Response:
    """The form for a new endpoint."""
    return _form(None, {"event_types": []}, {})


@bp.post("/endpoints/new")
def endpoint_create() -> Response | BaseResponse:
    """Create an endpoint from the form, with the rules of POST /v1/endpoints."""
    data = endpoint_data(request.form, with_tenant=viewer().may_switch)
    body, errors = parse_form(EndpointCreate, data)
    if errors:
        return _form(None, data, errors, 422)
    app = services()
    try:
        with app.sessions.begin() as session:
            fields = EndpointFields(**body.model_dump(exclude={"tenant"}))
            fields.tenant = tenant_for(body.tenant)
            created = endpoints.create_endpoint(session, app.registry, fields, utcnow())
    except InvalidInput as exc:
        return _form(None, data, errors_by_field(exc.errors), 422)
    return back_to("endpoint_page", "created", endpoint_id=created.id)


@bp.get("/endpoints/<id(ep):endpoint_id>")
def endpoint_page(endpoint_id: str) -> Response:
    """One endpoint: health, recent deliveries, and every action on it."""
    now = utcnow()
    with services().sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        stats = endpoints.endpoint_stats(session, endpoint, now)
        health = endpoint_health(session, [endpoint], now - timedelta(hours=24))[endpoint.id]
        recent, _ = page_of(
            session,
            deliveries_query(DeliveryFilter(endpoint_id=endpoint_id)),
            Delivery.id,
            10,
            None,
        )
        types, _ = list_types(session)
    testable = [t for t in types if matches(endpoint.event_types, t.name)]
    return render(
        "endpoint.html",
        endpoint=endpoint,
        stats=stats,
        health=health,
        recent=recent,
        testable=testable,
        since_default=(now - timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M"),
    )


@bp.get("/endpoints/<id(ep):endpoint_id>/edit")
def endpoint_edit(endpoint_id: str) -> Response:
    """The form to change an endpoint."""
    with services().sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
    return _form(endpoint, endpoint_values(endpoint), {})


@bp.post("/endpoints/<id(ep):endpoint_id>/edit")
def endpoint_update(endpoint_id: str) -> Response | BaseResponse:
    """Change an endpoint from the form, with the rules of PATCH /v1/endpoints/{id}."""
    data = endpoint_data(request.form, with_tenant=False)
    body, errors = parse_form(EndpointUpdate, data)
    app = services()
    with app.sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
    if errors:
        return _form(endpoint, data, errors, 422)
    fields = EndpointFields(**body.model_dump(), given=set(body.model_fields_set))
    try:
        with app.sessions.begin() as session:
            changing = visible(session, Endpoint, endpoint_id)
            endpoints.update_endpoint(
                session, app.registry, changing, fields, utcnow(), app.settings.operations_tenant
            )
    except InvalidInput as exc:
        # The failed transaction expired what it loaded: the form shows the copy read before.
        return _form(endpoint, data, errors_by_field(exc.errors), 422)
    return back_to("endpoint_page", "saved", endpoint_id=endpoint_id)


def _form(
    endpoint: Endpoint | None, values: dict[str, object], errors: dict[str, str], status: int = 200
) -> Response:
    with services().sessions() as session:
        types, _ = list_types(session)
    return render(
        "endpoint_form.html", status, endpoint=endpoint, values=values, errors=errors, types=types
    )
