"""The API's traces and error reports, when configured: Flask's spans, Celery's publish spans."""

from flask import Flask

from webhooks.config import Settings
from webhooks.observability.tracing import start_error_reports, start_tracing

# Probes and scrapes would drown the traces that matter.
UNTRACED = "healthz,readyz,metrics"


def instrument_api(app: Flask, settings: Settings) -> None:
    """Trace requests and the tasks they enqueue; report errors to Sentry; or do nothing."""
    if start_tracing(settings, "webhooks-api"):
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.flask import FlaskInstrumentor

        FlaskInstrumentor().instrument_app(app, excluded_urls=UNTRACED)  # type: ignore[no-untyped-call]
        # The enqueue's span, and the trace context in the task's headers.
        CeleryInstrumentor().instrument()  # type: ignore[no-untyped-call]
    if settings.sentry_dsn is not None:
        from sentry_sdk.integrations.flask import FlaskIntegration

        start_error_reports(settings, [FlaskIntegration()])
