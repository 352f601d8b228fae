"""GET /metrics: the backlog and the endpoints' state, read from SQL at each scrape."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webhooks.models import PENDING, Delivery, Endpoint

# What a scraper that sends no Accept header gets (the classic text format).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
EXTENSION = "webhooks.metrics"


@dataclass(frozen=True)
class ApiCounters:
    """What this API process counts itself (the backlog comes from SQL at each scrape)."""

    registry: CollectorRegistry
    events_accepted: Counter

    @classmethod
    def create(cls) -> "ApiCounters":
        """Counters in a registry of their own."""
        registry = CollectorRegistry()
        accepted = Counter(
            "webhooks_events_accepted",
            "Events stored by this API process (idempotent replays not counted).",
            registry=registry,
        )
        return cls(registry, accepted)


def counters() -> ApiCounters:
    """The counters of the current app."""
    found: ApiCounters = current_app.extensions[EXTENSION]
    return found


def render(session: Session, now: datetime, accept: str | None) -> tuple[bytes, str]:
    """Return the exposition for the `Accept` header, and its content type."""
    # The backlog is read from SQL, so every API process reports the same gauges; the
    # counters are this process's own (Prometheus adds the processes up).
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Backlog(session, now))
    registry.register(_Counted(counters().registry))
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
        pending = Delivery.status == PENDING
        # Each of these is answered from the partial indexes on pending and leased rows.
        waiting = self.session.scalar(select(func.count()).where(pending)) or 0
        due, oldest = self.session.execute(
            select(func.count(), func.min(Delivery.next_attempt_at)).where(
                pending, Delivery.next_attempt_at <= self.now
            )
        ).one()
        in_flight = self.session.scalar(
            select(func.count()).where(pending, Delivery.lease_expires_at.is_not(None))
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_pending", "Deliveries not yet finished.", value=waiting
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_due", "Pending deliveries whose time has come.", value=due
        )
        yield GaugeMetricFamily(
            "webhooks_deliveries_in_flight", "Deliveries a worker holds now.", value=in_flight or 0
        )
        yield GaugeMetricFamily(
            "webhooks_oldest_due_seconds",
            "How long the longest-waiting due delivery has waited.",
            value=(self.now - oldest).total_seconds() if oldest is not None else 0,
        )
        endpoints = GaugeMetricFamily("webhooks_endpoints", "Endpoints by state.", labels=["state"])
        counts = {
            enabled: number
            for enabled, number in self.session.execute(
                select(Endpoint.enabled, func.count())
                .where(Endpoint.deleted_at.is_(None))
                .group_by(Endpoint.enabled)
            )
        }
        endpoints.add_metric(["enabled"], counts.get(True, 0))
        endpoints.add_metric(["disabled"], counts.get(False, 0))
        yield endpoints
