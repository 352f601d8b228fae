"""The counters and histograms a worker process keeps, and the port it serves them on.

Each worker process counts its own attempts (Prometheus adds the processes up); the API
serves the backlog read from SQL and the events it accepted (`api/metrics.py`).
"""

import logging
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)

log = logging.getLogger(__name__)

# Receivers answer in milliseconds to seconds; the timeout caps an attempt near the top.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60)
# From accepted to delivered: a second when all is well, hours when retries were needed.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 7200, 21600, 86400)


@dataclass(frozen=True)
class DeliveryMetrics:
    """What the delivery path counts, in a registry of its own."""

    registry: CollectorRegistry
    attempts: Counter
    finished: Counter
    duration: Histogram
    latency: Histogram

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> "DeliveryMetrics":
        """Register the delivery metrics (and the process's own) in a new registry."""
        registry = registry or CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        return cls(
            registry=registry,
            attempts=Counter(
                "webhooks_attempts",
                "HTTP attempts made, by outcome and error class (http_4xx, timeout, ...).",
                ["outcome", "error"],
                registry=registry,
            ),
            finished=Counter(
                "webhooks_deliveries_finished",
                "Deliveries an attempt brought to a final status, by that status.",
                ["status"],
                registry=registry,
            ),
            duration=Histogram(
                "webhooks_attempt_duration_seconds",
                "How long one HTTP attempt took, connect to last byte.",
                buckets=DURATION_BUCKETS,
                registry=registry,
            ),
            latency=Histogram(
                "webhooks_delivery_latency_seconds",
                "From the event's acceptance to its delivery's success.",
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )

    def serve(self, port: int, address: str = "0.0.0.0") -> bool:
        """Serve /metrics on `port` in a thread; False (and a warning) if it is taken."""
        if port == 0:
            return False
        try:
            start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            # Several workers on one host: the first serves, the others say so and deliver.
            log.warning(
                "worker metrics not served: port %d: %s",
                port,
                exc.strerror or exc,
                extra={"port": port},
            )
            return False
        log.info("worker metrics at http://%s:%d/metrics", address, port, extra={"port": port})
        return True
