"""/v1/deliveries: the audit trail, and sending again."""

from flask import Blueprint, Response

from api.auth import key_tenant, visible
from api.http import query_args, respond
from api.openapi import documented
from api.schemas import AttemptList, AttemptOut, DeliveryOut, DeliveryQuery, Page
from api.services import services
from webhooks.delivery.queue import dispatch
from webhooks.delivery.redelivery import retry_delivery
from webhooks.lists import DeliveryFilter, deliveries_query, delivery_attempts, paginate
from webhooks.models import Delivery
from webhooks.times import utcnow

bp = Blueprint("deliveries", __name__, url_prefix="/deliveries")


@bp.get("")
@documented("List deliveries", Page[DeliveryOut], query=DeliveryQuery)
def list_() -> Response:
    """List deliveries, newest first."""
    query = query_args(DeliveryQuery)
    where = DeliveryFilter(
        tenant=key_tenant(),
        endpoint_id=query.endpoint_id,
        event_id=query.event_id,
        status=query.status,
    )
    statement = deliveries_query(where)
    with services().sessions() as session:
        rows, cursor = paginate(session, statement, Delivery.id, query.limit, query.cursor)
        page = Page[DeliveryOut](
            data=[DeliveryOut.model_validate(row) for row in rows], next_cursor=cursor
        )
    return respond(page)


@bp.get("/<id(dlv):delivery_id>")
@documented("Get a delivery", DeliveryOut, errors=(404,))
def get(delivery_id: str) -> Response:
    """Return one delivery."""
    with services().sessions() as session:
        return respond(DeliveryOut.model_validate(visible(session, Delivery, delivery_id)))


@bp.get("/<id(dlv):delivery_id>/attempts")
@documented("List a delivery's attempts", AttemptList, errors=(404,))
def attempts(delivery_id: str) -> Response:
    """Return every attempt of a delivery, oldest first."""
    with services().sessions() as session:
        visible(session, Delivery, delivery_id)
        rows = delivery_attempts(session, delivery_id)
        return respond(AttemptList(data=[AttemptOut.model_validate(row) for row in rows]))


@bp.post("/<id(dlv):delivery_id>/retry")
@documented("Send a delivery again now", DeliveryOut, status=202, errors=(404, 409))
def retry(delivery_id: str) -> Response:
    """Send again now, whatever the status; attempt numbers continue."""
    app = services()
    with app.sessions.begin() as session:
        delivery = visible(session, Delivery, delivery_id)
        retry_delivery(session, delivery, utcnow())
        out = DeliveryOut.model_validate(delivery)
    dispatch(app.engine, app.dispatcher, [delivery_id])
    return respond(out, 202)
