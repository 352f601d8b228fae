"""GET /metrics: the backlog and the endpoints' state, read from SQL at each scrape."""

from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from webhooks.delivery.backlog import backlog, endpoints_by_state

# What a scraper that sends no Accept header gets (the classic text format).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(session: Session, now: datetime, accept: str | None) -> tuple[bytes, str]:
    """Return the exposition for the `Accept` header, and its content type."""
    # SQL is the source of truth, so every API process reports the same numbers and no
    # multiprocess mode is needed under gunicorn.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Backlog(session, now))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class _Backlog(Collector):
    """Gauges computed from the deliveries and endpoints tables."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now

    def collect(self) -> Iterator[Metric]:
        waiting = backlog(self.session, self.now)
        yield GaugeMetricFamily(
            "webhooks_deliveries_pending", "Deliveries not yet finished.", value=waiting.pending
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_due", "Pending deliveries whose time has come.", value=waiting.due
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_in_flight",
            "Deliveries a worker holds now.",
            value=waiting.in_flight,
        )
        yield GaugeMetricFamily(
            "webhooks_oldest_due_seconds",
            "How long the longest-waiting due delivery has waited.",
            value=waiting.oldest_wait_seconds(self.now),
        )
        endpoints = GaugeMetricFamily("webhooks_endpoints", "Endpoints by state.", labels=["state"])
        counts = endpoints_by_state(self.session)
        endpoints.add_metric(["enabled"], counts[True])
        endpoints.add_metric(["disabled"], counts[False])
        yield endpoints
