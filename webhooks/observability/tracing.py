"""Optional traces: OpenTelemetry when OTEL_EXPORTER_OTLP_ENDPOINT is set, else nothing at all.

Its packages come with `pip install 'webhooks[otel]'`; none is imported while tracing is off.
The API and the worker instrument Flask and Celery on top of this (api/tracing.py,
worker/observability.py): a request's span, the task it enqueues, and the attempt the task
makes share one trace, carried through Celery's message headers.
"""

from collections.abc import MutableMapping, Sequence
from typing import Any

from webhooks.config import Settings
from webhooks.errors import ConfigError

MISSING = "{} is set but its packages are not installed: pip install 'webhooks[otel]'"


def start_tracing(settings: Settings, service: str) -> bool:
    """Export this process's spans over OTLP/HTTP; False (and nothing done) when not set."""
    if settings.otel_endpoint is None:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ConfigError(MISSING.format("OTEL_EXPORTER_OTLP_ENDPOINT")) from None
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    # The exporter reads OTEL_EXPORTER_OTLP_* (endpoint, headers, timeout) itself.
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return True


def inject_trace_context(headers: MutableMapping[str, str]) -> None:
    """Add the current span's `traceparent` (and `tracestate`) to `headers`, if there is one."""
    try:
        from opentelemetry.propagate import inject
    except ImportError:
        return  # tracing is not installed: there is no context to send
    inject(headers)


def start_error_reports(settings: Settings, integrations: Sequence[Any]) -> bool:
    """Report errors to Sentry when SENTRY_DSN is set; False (and nothing done) when not."""
    if settings.sentry_dsn is None:
        return False
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError(MISSING.format("SENTRY_DSN")) from None
    # Error-level log lines become Sentry events (the API's 500s are logged, not raised).
    sentry_sdk.init(dsn=settings.sentry_dsn, integrations=integrations, send_default_pii=False)
    return True
