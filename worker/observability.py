"""The worker's side of operations: its logging, its metrics port, the scheduled purge."""

from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready

from webhooks.config import Settings
from webhooks.observability.logs import configure_logging
from webhooks.observability.tracing import start_error_reports, start_tracing
from webhooks.retention import purge_due
from worker.maintenance import RETENTION_PASS_SECONDS
from worker.names import PURGE
from worker.runtime import LazyRuntime


def watch(app: Celery, settings: Settings, runtime: LazyRuntime) -> None:
    """Set up logging for every celery process, metrics for workers, and the purge task."""

    def _logging(**_: Any) -> None:
        # A receiver here tells Celery to leave logging alone: one set-up for every process.
        configure_logging(settings.log_level, settings.log_format)

    # At once too: `celery worker` warns (running as root, ...) before it sets up logging.
    _logging()

    def _metrics(**_: Any) -> None:
        runtime.get().metrics.serve(settings.worker_metrics_port)

    if start_tracing(settings, "webhooks-worker"):
        from opentelemetry.instrumentation.celery import CeleryInstrumentor

        # Each task's span continues the trace its message carries (from the API's request).
        CeleryInstrumentor().instrument()
    if settings.sentry_dsn is not None:
        from sentry_sdk.integrations.celery import CeleryIntegration

        start_error_reports(settings, [CeleryIntegration()])
    setup_logging.connect(_logging, weak=False)
    worker_ready.connect(_metrics, weak=False)

    # Acknowledged on receipt, like the scheduler's pass: a lost one is replaced by the next.
    @app.task(name=PURGE, acks_late=False)
    def purge() -> None:
        """Delete what finished longer ago than the retention period."""
        purge_due(runtime.get().engine, settings.retention_days, RETENTION_PASS_SECONDS)
