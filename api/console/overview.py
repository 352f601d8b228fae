"""The overview: the last day of deliveries, attempts per minute, the backlog, failing endpoints."""

from flask import Response

from api.console.blueprint import bp
from api.console.charts import bar_chart, stacked_chart
from api.console.pages import render
from api.console.viewer import viewer
from api.services import services
from webhooks.delivery.backlog import backlog
from webhooks.overview import attempts_by_minute, deliveries_by_hour, troubled_endpoints
from webhooks.times import utcnow


@bp.get("/")
def overview() -> Response:
    """Show how delivery is going, refreshed in place while the page is open."""
    tenant = viewer().tenant
    now = utcnow()
    with services().sessions() as session:
        hours = deliveries_by_hour(session, now, tenant)
        minutes = attempts_by_minute(session, now, tenant)
        waiting = backlog(session, now, tenant)
        troubled = troubled_endpoints(session, tenant)
    totals = {status: sum(hour[status] for hour in hours) for status in hours[0]}
    return render(
        "overview.html",
        hours_chart=stacked_chart(hours),
        minutes_chart=bar_chart(minutes),
        totals=totals,
        attempts_total=sum(minutes),
        per_minute=minutes[-1] if minutes else 0,
        backlog=waiting,
        oldest_wait=waiting.oldest_wait_seconds(now),
        troubled=troubled,
    )
