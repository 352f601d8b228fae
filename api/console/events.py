"""Events: the list by type, tenant and time; one event's payload exactly as it was sent."""

import json
from datetime import UTC, datetime

from flask import Response, request

from api.auth import tenant_filter, visible
from api.console.blueprint import bp
from api.console.pages import render
from api.services import services
from webhooks.errors import InvalidInput
from webhooks.events.matching import is_event_type
from webhooks.lists import EventFilter, event_deliveries, events_query, paginate
from webhooks.models import Event

PAGE = 50


@bp.get("/events")
def events_list() -> Response:
    """List events, newest first, filtered by type, tenant and time received."""
    args = request.args
    event_type = args.get("type", "").strip() or None
    if event_type is not None and not is_event_type(event_type):
        raise InvalidInput.field(("type",), "not an event type")
    tenant = tenant_filter(args.get("tenant", "").strip() or None)
    where = EventFilter(
        tenant=tenant,
        type=event_type,
        since=_time(args.get("since", ""), "since"),
        until=_time(args.get("until", ""), "until"),
    )
    with services().sessions() as session:
        rows, cursor = paginate(session, events_query(where), Event.id, PAGE, args.get("cursor"))
    return render("events.html", rows=rows, cursor=cursor, args=args)


@bp.get("/events/<id(evt):event_id>")
def event_page(event_id: str) -> Response:
    """One event: the body every attempt sent, pretty-printed, and its deliveries."""
    with services().sessions() as session:
        event = visible(session, Event, event_id)
        deliveries = event_deliveries(session, event_id)
    raw = event.payload.decode()
    # The stored body was written by json.dumps: reading and writing it again keeps every value.
    pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    return render("event.html", event=event, raw=raw, pretty=pretty, deliveries=deliveries)


def _time(raw: str, name: str) -> datetime | None:
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput.field((name,), "a date and time, like 2026-11-26T09:00") from None
