"""Operations settings, log lines and the names attempts are counted under."""

import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from webhooks.config import Settings
from webhooks.delivery.outcome import AttemptRecord
from webhooks.errors import ConfigError
from webhooks.ids import id_time, new_id
from webhooks.observability.attempts import error_class
from webhooks.observability.logs import bound, configure_logging


def test_operations_settings_have_documented_defaults_and_checks() -> None:
    """Log format, operations tenant, retention and worker metrics port."""
    defaults = Settings.from_env({})
    assert (defaults.log_format, defaults.operations_tenant) == ("text", "_operations")
    assert (defaults.retention_days, defaults.worker_metrics_port) == (30, 9808)
    chosen = Settings.from_env(
        {
            "WEBHOOKS_LOG_FORMAT": "JSON",
            "WEBHOOKS_OPERATIONS_TENANT": "ops",
            "WEBHOOKS_RETENTION_DAYS": "0",
            "WEBHOOKS_WORKER_METRICS_PORT": "0",
        }
    )
    assert (chosen.log_format, chosen.operations_tenant) == ("json", "ops")
    assert (chosen.retention_days, chosen.worker_metrics_port) == (0, 0)
    for name, value in (
        ("WEBHOOKS_LOG_FORMAT", "xml"),
        ("WEBHOOKS_OPERATIONS_TENANT", "a b"),
        ("WEBHOOKS_RETENTION_DAYS", "-1"),
        ("WEBHOOKS_WORKER_METRICS_PORT", "70000"),
    ):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})


@pytest.fixture
def json_lines() -> io.StringIO:
    """Configure JSON logging into a buffer."""
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    return buffer


def test_json_lines_carry_fields_and_context_but_never_secrets(json_lines: io.StringIO) -> None:
    """`extra` fields and bound context become keys; secret-named keys are dropped."""
    with bound(request_id="r-1"):
        logging.getLogger("webhooks.test").warning(
            "something %s", "happened", extra={"delivery_id": "dlv_1", "secret": "whsec_x"}
        )
    logging.getLogger("webhooks.test").info("after", extra={"payload": b"{}", "api_key": "k"})
    first, second = (json.loads(line) for line in json_lines.getvalue().splitlines())
    assert first["message"] == "something happened"
    assert (first["level"], first["logger"], first["request_id"]) == (
        "warning",
        "webhooks.test",
        "r-1",
    )
    assert first["delivery_id"] == "dlv_1" and "secret" not in first
    assert "request_id" not in second and "payload" not in second and "api_key" not in second
    assert datetime.fromisoformat(first["timestamp"]).tzinfo is not None


def test_routine_celery_lines_only_show_at_debug(json_lines: io.StringIO) -> None:
    """Beat's "sending due task" and per-task received/succeeded lines say nothing happened."""
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s", "scheduler")
    logging.getLogger("celery.app.trace").info("Task %s succeeded", "webhooks.schedule")
    logging.getLogger("celery.beat").info("beat: Starting...")
    assert [json.loads(line)["message"] for line in json_lines.getvalue().splitlines()] == [
        "beat: Starting..."
    ]
    # Celery decides once, when a worker starts, whether to build its per-task lines at all.
    per_task = (logging.getLogger(name) for name in ("celery.worker.strategy", "celery.app.trace"))
    assert not any(logger.isEnabledFor(logging.INFO) for logger in per_task)
    logging.getLogger("celery.app.trace").error("Task %s raised", "webhooks.deliver")
    assert "Task webhooks.deliver raised" in json_lines.getvalue()
    debug = io.StringIO()
    configure_logging("DEBUG", "text", stream=debug)
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s", "scheduler")
    logging.getLogger("celery.app.trace").info("Task %s succeeded", "webhooks.schedule")
    assert "Sending due task scheduler" in debug.getvalue()
    assert "Task webhooks.schedule succeeded" in debug.getvalue()
    configure_logging("INFO", "text")


def _attempt(status_code: int | None, error: str | None, outcome: str) -> AttemptRecord:
    now = datetime.now(UTC)
    return AttemptRecord(now, 1.0, status_code, None, error, outcome, "pending", None, False)  # type: ignore[arg-type]


def test_error_classes_are_few() -> None:
    """Errors by name, statuses by class, successes as none: a metric label of few values."""
    assert error_class(_attempt(200, None, "success")) == "none"
    assert error_class(_attempt(503, None, "failure")) == "http_5xx"
    assert error_class(_attempt(410, None, "failure")) == "http_4xx"
    assert error_class(_attempt(None, "timeout", "failure")) == "timeout"


def test_an_id_tells_when_it_was_made() -> None:
    """The acceptance time of an event is read back from its id, to the millisecond."""
    before = datetime.now(UTC)
    made = id_time(new_id("evt"))
    assert before - timedelta(milliseconds=1) <= made <= datetime.now(UTC)
