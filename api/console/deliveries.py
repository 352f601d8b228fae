"""Deliveries: the filtered list, bulk retry with progress, one delivery with every attempt."""

from datetime import UTC, datetime

from flask import Response, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from api.auth import visible
from api.console.blueprint import bp
from api.console.pages import back_to, render
from api.console.viewer import viewer
from api.services import services
from webhooks.delivery.headers import read_recorded
from webhooks.delivery.queue import dispatch
from webhooks.delivery.redelivery import retry_delivery, retry_failed, retry_progress
from webhooks.errors import InvalidInput
from webhooks.ids import is_id
from webhooks.lists import DeliveryFilter, deliveries_query, delivery_attempts, paginate
from webhooks.models import DELIVERY_STATUSES, FAILED, Delivery, Endpoint, Event
from webhooks.times import utcnow

PAGE = 50


@bp.get("/deliveries")
def deliveries_list() -> Response:
    """List deliveries, newest first, by status, endpoint and event; refreshed in place."""
    where = _filter(request.args)
    with services().sessions() as session:
        rows, cursor = paginate(
            session, deliveries_query(where), Delivery.id, PAGE, request.args.get("cursor")
        )
    return render(
        "deliveries.html",
        rows=rows,
        cursor=cursor,
        where=where,
        statuses=DELIVERY_STATUSES,
        bulk=where.status == FAILED,
    )


@bp.post("/deliveries/retry")
def deliveries_retry() -> BaseResponse:
    """Send again every failed delivery of the filtered list, spread over scheduler passes."""
    where = _filter(request.form)
    app = services()
    started = utcnow()
    with app.sessions.begin() as session:
        retry_failed(session, where, started, app.settings.scheduler_interval_seconds)
    return back_to(
        "deliveries_progress",
        "retried",
        started=started.isoformat(),
        endpoint_id=where.endpoint_id or "",
        event_id=where.event_id or "",
    )


@bp.get("/deliveries/progress")
def deliveries_progress() -> Response:
    """How a bulk retry is going: sent again, still waiting, failed again."""
    where = _filter(request.args)
    try:
        started = datetime.fromisoformat(request.args.get("started", ""))
    except ValueError:
        raise InvalidInput.field(("started",), "not a time") from None
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    with services().sessions() as session:
        counts = retry_progress(session, where, started)
    total = sum(counts.values())
    done = total - counts["pending"]
    return render("progress.html", counts=counts, total=total, done=done, where=where)


@bp.get("/deliveries/<id(dlv):delivery_id>")
def delivery_page(delivery_id: str) -> Response:
    """One delivery: every attempt, the headers it carried, when the next one is due."""
    with services().sessions() as session:
        delivery = visible(session, Delivery, delivery_id)
        attempts = delivery_attempts(session, delivery_id)
        endpoint = session.get(Endpoint, delivery.endpoint_id)
        event = session.get(Event, delivery.event_id)
    assert endpoint is not None and event is not None
    headers = {a.id: (read_recorded(a.request_headers) or {}).items() for a in attempts}
    return render(
        "delivery.html",
        delivery=delivery,
        attempts=attempts,
        endpoint=endpoint,
        event=event,
        headers=headers,
        now=utcnow(),
    )


@bp.post("/deliveries/<id(dlv):delivery_id>/retry")
def delivery_retry(delivery_id: str) -> BaseResponse:
    """Send a delivery again now, as POST /v1/deliveries/{id}/retry does."""
    app = services()
    with app.sessions.begin() as session:
        retry_delivery(session, visible(session, Delivery, delivery_id), utcnow())
    dispatch(app.engine, app.dispatcher, [delivery_id])
    return back_to("delivery_page", "retried", delivery_id=delivery_id)


def _filter(args: MultiDict[str, str]) -> DeliveryFilter:
    status = args.get("status", "") or None
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidInput.field(("status",), f"one of {', '.join(DELIVERY_STATUSES)}")
    endpoint_id = args.get("endpoint_id", "").strip() or None
    event_id = args.get("event_id", "").strip() or None
    for name, value, prefix in (("endpoint_id", endpoint_id, "ep"), ("event_id", event_id, "evt")):
        if value is not None and not is_id(prefix, value):
            raise InvalidInput.field((name,), f"an id like {prefix}_...")
    return DeliveryFilter(viewer().tenant, endpoint_id, event_id, status)
