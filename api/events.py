"""/v1/events: take an event, store it with its deliveries, queue them."""

import json
import logging
import re

from flask import Blueprint, Response, request

from api.auth import tenant_filter, tenant_for, visible
from api.http import json_body, query_args, respond
from api.metrics import counters
from api.openapi import documented
from api.schemas import (
    DeliveryOut,
    DeliveryRef,
    EventAccepted,
    EventCreate,
    EventOut,
    EventQuery,
    EventSummary,
    Page,
)
from api.services import services
from webhooks.errors import InvalidInput
from webhooks.lists import EventFilter, event_deliveries, events_query, paginate
from webhooks.models import Event
from webhooks.times import utcnow

bp = Blueprint("events", __name__, url_prefix="/events")

IDEMPOTENCY_HEADER = "Idempotency-Key"
log = logging.getLogger(__name__)
# 1 to 255 printable ASCII characters, no space at either end (HTTP would strip it).
IDEMPOTENCY_PATTERN = r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_PATTERN)


@bp.post("")
@documented(
    "Send an event",
    EventAccepted,
    status=202,
    body=EventCreate,
    errors=(409,),
    headers={
        IDEMPOTENCY_HEADER: (
            "Same key and body within 24 h: the first response again (200), nothing new sent. "
            "Same key, other body: 409.",
            {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_PATTERN},
        )
    },
    also={200: "A replay: the same Idempotency-Key and body as an earlier event"},
)
def create() -> Response:
    """Store the event and one delivery per matching endpoint, then queue the deliveries."""
    key = _idempotency_key()
    body = json_body(EventCreate)
    app = services()
    tenant = tenant_for(body.tenant)
    published = app.publisher.publish(
        tenant=tenant,
        event_type=body.type,
        data=body.data,
        now=utcnow(),
        require_known=app.settings.require_known_event_types,
        idempotency_key=key,
    )
    accepted = EventAccepted(
        id=published.event.id,
        type=published.event.type,
        tenant=published.event.tenant,
        created_at=published.event.created_at,
        deliveries=[DeliveryRef.model_validate(d) for d in published.deliveries],
    )
    # The answer is made before the deliveries are queued: once they are, the workers
    # take the CPU from it.
    response = respond(accepted, 200 if published.replayed else 202)
    if not published.replayed:
        # Committed first, queued second: a broker outage delays delivery, never loses it.
        app.intake.admit(published.deliveries)
        counters().events_accepted.inc()
        log.info(
            "event accepted",
            extra={
                "event_id": published.event.id,
                "type": published.event.type,
                "tenant": published.event.tenant,
                "deliveries": len(published.deliveries),
            },
        )
    return response


@bp.get("")
@documented("List events", Page[EventSummary], query=EventQuery)
def list_() -> Response:
    """List events, newest first."""
    query = query_args(EventQuery)
    statement = events_query(EventFilter(tenant=tenant_filter(query.tenant), type=query.type))
    with services().sessions() as session:
        rows, cursor = paginate(session, statement, Event.id, query.limit, query.cursor)
        page = Page[EventSummary](
            data=[EventSummary.model_validate(row) for row in rows], next_cursor=cursor
        )
    return respond(page)


@bp.get("/<id(evt):event_id>")
@documented("Get an event", EventOut, errors=(404,))
def get(event_id: str) -> Response:
    """Return an event with its data and the status of its deliveries."""
    with services().sessions() as session:
        event = visible(session, Event, event_id)
        deliveries = event_deliveries(session, event_id)
        out = EventOut(
            id=event.id,
            type=event.type,
            tenant=event.tenant,
            created_at=event.created_at,
            data=json.loads(event.payload)["data"],
            deliveries=[DeliveryOut.model_validate(d) for d in deliveries],
        )
    return respond(out)


def _idempotency_key() -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if _IDEMPOTENCY_KEY.fullmatch(key) is None:
        raise InvalidInput.field(
            ("header", IDEMPOTENCY_HEADER),
            "1 to 255 printable ASCII characters, no space at either end",
        )
    return key
