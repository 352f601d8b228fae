"""The one call the delivery path makes after each attempt: a log line and the metrics."""

import logging
from typing import Protocol

from webhooks.delivery.ledger import Claim
from webhooks.delivery.outcome import AttemptRecord
from webhooks.ids import id_time
from webhooks.models import CANCELLED, FAILED, SUCCEEDED
from webhooks.observability.metrics import DeliveryMetrics
from webhooks.times import utcnow

log = logging.getLogger("webhooks.attempts")
FINAL = (SUCCEEDED, FAILED, CANCELLED)


class AttemptHook(Protocol):
    """Called once after each attempt with the delivery's new status (None: lease lost)."""

    def __call__(self, claim: Claim, attempt: AttemptRecord, status: str | None) -> None: ...


def error_class(attempt: AttemptRecord) -> str:
    """Name why an attempt failed, in few enough values for a metric label."""
    if attempt.error is not None:
        return str(attempt.error)
    if attempt.outcome == "success" or attempt.status_code is None:
        return "none"
    return f"http_{attempt.status_code // 100}xx"


class AttemptObserver:
    """Log each attempt and count it; `metrics` None logs only (tests, tools)."""

    def __init__(self, metrics: DeliveryMetrics | None = None) -> None:
        self.metrics = metrics

    def __call__(self, claim: Claim, attempt: AttemptRecord, status: str | None) -> None:
        """Record one attempt of `claim` that left its delivery in `status` (None: lease lost)."""
        error = error_class(attempt)
        fields = {
            "event_id": claim.event_id,
            "delivery_id": claim.delivery_id,
            "endpoint_id": claim.endpoint_id,
            "tenant": claim.tenant,
            "attempt": claim.number,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "outcome": attempt.outcome,
            "duration_ms": attempt.duration_ms,
            "delivery_status": status,
        }
        if attempt.next_attempt_at is not None and status not in FINAL:
            fields["next_attempt_at"] = attempt.next_attempt_at.isoformat()
        level = logging.INFO if attempt.outcome == "success" else logging.WARNING
        log.log(level, "attempt", extra=fields)
        if status == FAILED:
            log.warning("delivery failed", extra={**fields, "reason": error})
        if self.metrics is None:
            return
        self.metrics.attempts.labels(attempt.outcome, error).inc()
        self.metrics.duration.observe(attempt.duration_ms / 1000)
        if status in FINAL:
            self.metrics.finished.labels(status).inc()
        if status == SUCCEEDED:
            accepted = id_time(claim.event_id)
            self.metrics.latency.observe(max(0.0, (utcnow() - accepted).total_seconds()))
