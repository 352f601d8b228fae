"""Traces, when OTEL_EXPORTER_OTLP_ENDPOINT is set: one trace from the request to the receiver.

The API runs in a process of its own here: tracing is set up once per process, for good.
"""

import gzip
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import API_KEY
from tests.support import free_port, wait_until
from tests.support.processes import CeleryProcess, process_env
from tests.support.receiver import Receiver

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SERVE = (
    "import sys; from werkzeug.serving import run_simple; from api import create_app; "
    "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)"
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The receiver, started before `env` so that it can collect the spans too."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def env(env: dict[str, str], receiver: Receiver) -> dict[str, str]:
    """Spans exported (every 100 ms) to the receiver, as to an OTLP collector."""
    return {
        **env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url("/otel"),
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


@pytest.fixture
def api(env: dict[str, str]) -> Iterator[str]:
    """The API in a process of its own; yield its URL."""
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port)],
        env=process_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/healthz"), timeout=30, message="the API did not start")
        yield url
    finally:
        child.kill()
        child.wait()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def spans(receiver: Receiver) -> list[tuple[str, str, str]]:
    """(service, span name, trace id) of every span exported so far."""
    found = []
    for request in receiver.received("/otel/v1/traces"):
        export = ExportTraceServiceRequest.FromString(request.body)
        for resource in export.resource_spans:
            service = next(
                a.value.string_value
                for a in resource.resource.attributes
                if a.key == "service.name"
            )
            for scope in resource.scope_spans:
                found += [(service, s.name, s.trace_id.hex()) for s in scope.spans]
    return found


def test_one_trace_from_the_request_to_the_receiver(
    api: str, receiver: Receiver, worker: CeleryProcess
) -> None:
    """The caller's trace goes on through the enqueue and the attempt to the receiver."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {API_KEY}"

    def create(path: str, **fields: Any) -> None:
        body = {"url": receiver.url(path), **fields}
        assert http.post(f"{api}/v1/endpoints", json=body, timeout=10).status_code == 201

    create("/traced", send_traceparent=True)
    create("/plain")
    parent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    event = {"type": "invoice.paid", "data": {}}
    sent = http.post(f"{api}/v1/events", json=event, headers={"traceparent": parent}, timeout=10)
    assert sent.status_code == 202, sent.text

    (traced,) = receiver.wait_for(1, "/traced")
    (plain,) = receiver.wait_for(1, "/plain")
    assert traced.headers["traceparent"].split("-")[1] == TRACE_ID
    assert "traceparent" not in plain.headers  # only for endpoints that opt in

    wanted = {
        ("webhooks-api", "POST /v1/events"),
        ("webhooks-api", "apply_async/webhooks.deliver"),
        ("webhooks-worker", "run/webhooks.deliver"),
    }

    def traced_spans() -> set[tuple[str, str]]:
        mine = {(service, name) for service, name, trace in spans(receiver) if trace == TRACE_ID}
        return mine if wanted <= mine else set()

    wait_until(traced_spans, timeout=20, message=f"spans of the trace: {spans(receiver)}")


REPORT = (
    "import logging, sentry_sdk; from api import create_app; create_app(); "
    "logging.getLogger('api.errors').error('probe: an error the API logged'); sentry_sdk.flush(5)"
)
# What tracing would import (redis itself imports parts of opentelemetry when it is there).
OURS = (
    "opentelemetry.instrumentation",
    "opentelemetry.exporter",
    "opentelemetry.sdk.trace",
    "sentry_sdk",
)
IMPORTS = (
    f"OURS = {OURS!r}; import sys; from api import create_app; create_app(); import worker.app; "
    "print(sorted(m for m in sys.modules if m.startswith(OURS)))"
)


def test_errors_the_api_logs_reach_sentry(env: dict[str, str], receiver: Receiver) -> None:
    """With SENTRY_DSN set, an error log line becomes a Sentry event (sent to its DSN)."""
    dsn = f"http://publickey@127.0.0.1:{receiver.port}/42"
    done = subprocess.run(
        [sys.executable, "-c", REPORT],
        env=process_env({**env, "SENTRY_DSN": dsn, "OTEL_EXPORTER_OTLP_ENDPOINT": ""}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    (envelope,) = receiver.wait_for(1, "/api/42/envelope/")
    body = gzip.decompress(envelope.body) if envelope.body[:2] == b"\x1f\x8b" else envelope.body
    assert b"probe: an error the API logged" in body


def test_nothing_is_imported_when_tracing_and_reports_are_off(env: dict[str, str]) -> None:
    """Without OTEL_EXPORTER_OTLP_ENDPOINT and SENTRY_DSN, no tracing or Sentry module loads."""
    plain = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": "", "SENTRY_DSN": ""}
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS],
        env=process_env(plain),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
