"""GET /metrics: the backlog and the endpoints' state, read from SQL at each scrape.

Under gunicorn's several processes the counters live in files every process writes its own of
(prometheus-client's multiprocess mode, PROMETHEUS_MULTIPROC_DIR, set up by api/server/config.py),
so whichever process answers a scrape reports the sum of all; the gauges are read from SQL then.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from prometheus_client import CollectorRegistry, Counter, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session

from webhooks.delivery.backlog import backlog, endpoints_by_state

# What a scraper that sends no Accept header gets (the classic text format).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXTENSION = "webhooks.metrics"


@dataclass(frozen=True)
class ApiCounters:
    """What this API process counts itself (the backlog comes from SQL at each scrape)."""

    registry: CollectorRegistry
    events_accepted: Counter
    # Where every web process keeps its counters; None: this process's alone are reported.
    shared_dir: str | None = None

    @classmethod
    def create(cls, shared_dir: str | None = None) -> "ApiCounters":
        """Counters in a registry of their own, kept in `shared_dir` when one is given."""
        if shared_dir is not None:
            _share_values()
        registry = CollectorRegistry()
        accepted = Counter(
            "webhooks_events_accepted",
            "Events stored by this API process (idempotent replays not counted).",
            registry=registry,
        )
        return cls(registry, accepted, shared_dir)

    def collector(self) -> Collector:
        """What a scrape reports of the counters: all web processes' sums, or this one's."""
        if self.shared_dir is None:
            return _Counted(self.registry)
        return MultiProcessCollector(None, path=self.shared_dir)  # type: ignore[no-untyped-call]


def _share_values() -> None:
    """Make the metrics created from now on keep their values in the shared directory."""
    # prometheus-client picks its value class once, at import, from PROMETHEUS_MULTIPROC_DIR;
    # gunicorn's master imports it (with the app's package) before its hook sets the variable.
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def counters() -> ApiCounters:
    """The counters of the current app."""
    found: ApiCounters = current_app.extensions[EXTENSION]
    return found


def render(session: Session, now: datetime, accept: str | None) -> tuple[bytes, str]:
    """Return the exposition for the `Accept` header, and its content type."""
    # The backlog is read from SQL, so every API process reports the same gauges, once.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Backlog(session, now))
    registry.register(counters().collector())
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class _Counted(Collector):
    """The process's own counters, beside the gauges."""

    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()


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
            "webhooks_deliveries_held",
            "Pending deliveries waiting behind their endpoint's rate limit or cap.",
            value=waiting.held,
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
