"""One logging set-up for every process (API, worker, beat, CLI): one line per record.

`WEBHOOKS_LOG_FORMAT=json` writes one JSON object per line (for a log pipeline), `text` a
readable line. Every logger goes through the same handler, the standard library's and
Celery's alike; fields passed with `extra=` become keys, and a request id bound with
`bind_context` is on every line logged while it is bound.
"""

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

# Keys that must never reach a log line, whatever a caller passes in `extra`.
HIDDEN = frozenset(
    {"secret", "secrets", "authorization", "api_key", "key", "payload", "body", "password"}
)
# Lines that say nothing happened, at every scheduler pass: only shown at DEBUG.
ROUTINE = (("celery.beat", "Scheduler: Sending due task"),)
# Celery's loggers whose INFO lines say only "task received / succeeded / retried", at every
# task (the attempt line says more): off below DEBUG by their level, not a filter, because
# building a record only to drop it cost a worker 7 % of its CPU.
PER_TASK = ("celery.worker.strategy", "celery.app.trace")
_MARK = "_webhooks_handler"


def configure_logging(level: str, log_format: str, stream: TextIO | None = None) -> None:
    """Route every logger to one handler on stderr, in `log_format` ("json" or "text")."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_hidden,
    ]
    out = stream or sys.stderr
    final: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if log_format == "json":
        final += [
            structlog.processors.format_exc_info,
            structlog.processors.EventRenamer("message"),
            structlog.processors.JSONRenderer(sort_keys=False),
        ]
    else:
        colors = bool(getattr(out, "isatty", lambda: False)())
        final.append(structlog.dev.ConsoleRenderer(colors=colors, sort_keys=False))
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processors=final)
    )
    if level != "DEBUG":
        handler.addFilter(_drop_routine)
    setattr(handler, _MARK, True)
    root = logging.getLogger()
    # Replace our earlier handler (an app built twice in one process), keep anyone else's.
    root.handlers = [h for h in root.handlers if not getattr(h, _MARK, False)] + [handler]
    root.setLevel(level)
    # Python's warnings (Celery's "running as root", deprecations) as log lines too.
    logging.captureWarnings(True)
    for name in ("webhooks", "api", "worker"):
        logging.getLogger(name).setLevel(level)
    for name in PER_TASK:
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else logging.WARNING)


@contextmanager
def bound(**context: Any) -> Iterator[None]:
    """Add `context` to every line logged in this thread until the block ends."""
    tokens = structlog.contextvars.bind_contextvars(**context)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def bind_context(**context: Any) -> None:
    """Add `context` to every line this thread logs until `clear_context`."""
    structlog.contextvars.bind_contextvars(**context)


def clear_context() -> None:
    """Forget what `bind_context` added."""
    structlog.contextvars.clear_contextvars()


def _drop_hidden(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # `message` is the record's formatted text, already the event: not a field of its own.
    for name in HIDDEN.intersection(event) | {"message"}:
        event.pop(name, None)
    return event


def _drop_routine(record: logging.LogRecord) -> bool:
    if record.levelno != logging.INFO:
        return True
    message = str(record.msg)
    return not any(record.name == name and message.startswith(prefix) for name, prefix in ROUTINE)
