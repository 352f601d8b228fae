"""/v1/endpoints: the subscribers."""

from flask import Blueprint, Response

from api.auth import tenant_filter, tenant_for, visible
from api.http import json_body, query_args, respond
from api.openapi import documented
from api.schemas import (
    EndpointCreate,
    EndpointCreated,
    EndpointOut,
    EndpointQuery,
    EndpointUpdate,
    Page,
    RecoverIn,
    RecoverOut,
    SecretOut,
    StatsOut,
)
from api.services import services
from webhooks import endpoints
from webhooks.delivery.redelivery import recover_endpoint
from webhooks.endpoints import EndpointFields, shared_secret
from webhooks.lists import EndpointFilter, endpoints_query, paginate
from webhooks.models import Endpoint
from webhooks.security.sealing import Keyring
from webhooks.times import utcnow

bp = Blueprint("endpoints", __name__, url_prefix="/endpoints")


@bp.post("")
@documented("Create an endpoint", EndpointCreated, status=201, body=EndpointCreate)
def create() -> Response:
    """Subscribe a URL; the response carries the signing secret."""
    body = json_body(EndpointCreate)
    fields = EndpointFields(**body.model_dump(exclude={"tenant"}))
    fields.tenant = tenant_for(body.tenant)
    app = services()
    with app.sessions.begin() as session:
        endpoint = endpoints.create_endpoint(session, app.registry, fields, utcnow())
        created = EndpointCreated(
            **EndpointOut.model_validate(endpoint).model_dump(),
            secret=shared_secret(endpoint, app.keyring),
        )
    return respond(created, 201)


@bp.get("")
@documented("List endpoints", Page[EndpointOut], query=EndpointQuery)
def list_() -> Response:
    """List endpoints, newest first."""
    query = query_args(EndpointQuery)
    where = EndpointFilter(tenant=tenant_filter(query.tenant), enabled=query.enabled)
    statement = endpoints_query(where)
    with services().sessions() as session:
        rows, cursor = paginate(session, statement, Endpoint.id, query.limit, query.cursor)
        page = Page[EndpointOut](
            data=[EndpointOut.model_validate(row) for row in rows], next_cursor=cursor
        )
    return respond(page)


@bp.get("/<id(ep):endpoint_id>")
@documented("Get an endpoint", EndpointOut, errors=(404,))
def get(endpoint_id: str) -> Response:
    """Return one endpoint."""
    with services().sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        return respond(EndpointOut.model_validate(endpoint))


@bp.patch("/<id(ep):endpoint_id>")
@documented("Change an endpoint", EndpointOut, body=EndpointUpdate, errors=(404,))
def update(endpoint_id: str) -> Response:
    """Change fields; `enabled: true` clears the disabled reason and the failure streak."""
    body = json_body(EndpointUpdate)
    fields = EndpointFields(**body.model_dump(exclude={"tenant"}), given=set(body.model_fields_set))
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        endpoints.update_endpoint(
            session, app.registry, endpoint, fields, utcnow(), app.settings.operations_tenant
        )
        updated = EndpointOut.model_validate(endpoint)
    return respond(updated)


@bp.delete("/<id(ep):endpoint_id>")
@documented("Delete an endpoint", None, status=204, errors=(404,))
def delete(endpoint_id: str) -> Response:
    """Delete an endpoint; its pending deliveries are cancelled, its audit rows stay."""
    with services().sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        endpoints.delete_endpoint(session, endpoint, utcnow())
    return Response(status=204)


@bp.get("/<id(ep):endpoint_id>/secret")
@documented("Get what verifies an endpoint's signatures", SecretOut, errors=(404,))
def secret(endpoint_id: str) -> Response:
    """Return the signing secret (hmac-sha256) or the public key (ed25519)."""
    app = services()
    with app.sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        return respond(_secret_out(endpoint, app.keyring))


@bp.post("/<id(ep):endpoint_id>/secret/rotate")
@documented("Rotate an endpoint's secret", SecretOut, errors=(404,))
def rotate(endpoint_id: str) -> Response:
    """Issue a new secret or key pair; the old one signs beside it for the overlap period."""
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        endpoints.rotate_secret(
            session, app.keyring, endpoint, utcnow(), app.settings.rotation_overlap_seconds
        )
        out = _secret_out(endpoint, app.keyring)
    return respond(out)


def _secret_out(endpoint: Endpoint, keyring: Keyring) -> SecretOut:
    return SecretOut.model_validate(
        {
            "signature_scheme": endpoint.signature_scheme,
            "secret": shared_secret(endpoint, keyring),
            "public_key": endpoint.public_key,
        }
    )


@bp.post("/<id(ep):endpoint_id>/recover")
@documented("Re-send failed deliveries", RecoverOut, status=202, body=RecoverIn, errors=(404, 409))
def recover(endpoint_id: str) -> Response:
    """Send again every delivery to this endpoint that ended failed since `since`."""
    body = json_body(RecoverIn)
    app = services()
    with app.sessions.begin() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        count = recover_endpoint(
            session, endpoint, body.since, utcnow(), app.settings.scheduler_interval_seconds
        )
    return respond(RecoverOut(requeued=count), 202)


@bp.get("/<id(ep):endpoint_id>/stats")
@documented("An endpoint's last 24 hours", StatsOut, errors=(404,))
def stats(endpoint_id: str) -> Response:
    """Count deliveries by status and attempts by outcome; show the failure streak."""
    with services().sessions() as session:
        endpoint = visible(session, Endpoint, endpoint_id)
        return respond(
            StatsOut.model_validate(endpoints.endpoint_stats(session, endpoint, utcnow()))
        )
