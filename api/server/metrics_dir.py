"""The directory where the web processes keep their counters: made, emptied, cleaned up.

prometheus-client's multiprocess mode: each gunicorn worker writes its counters to files in
PROMETHEUS_MULTIPROC_DIR and a scrape sums them all. The operator may name the directory;
otherwise the master makes a private one. Both are emptied at start, as stale files from an
earlier run would be added to this run's counts. These functions are gunicorn server hooks.
"""

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prometheus_client.multiprocess import mark_process_dead

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Set when the master made the directory itself, so that it is the one to remove it.
_PRIVATE = "WEBHOOKS_PRIVATE_METRICS_DIR"

log = logging.getLogger("api.server")


def prepare(_server: Any = None) -> Path:
    """Make or empty the directory before any worker starts, and name it in the environment."""
    named = os.environ.get(VARIABLE, "").strip()
    if named:
        directory = Path(named)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="webhooks-metrics-"))
        os.environ[_PRIVATE] = str(directory)
    # Workers are forked after this and read it (webhooks.config.Settings.metrics_dir).
    os.environ[VARIABLE] = str(directory)
    log.debug("web processes' metrics in %s", directory, extra={"directory": str(directory)})
    return directory


def worker_exited(_server: Any, worker: Any) -> None:
    """Forget a dead worker's live gauges; its counters stay counted."""
    mark_process_dead(worker.pid, os.environ.get(VARIABLE))  # type: ignore[no-untyped-call]


def remove(_server: Any = None) -> None:
    """Remove the directory if the master made it (the operator's stays)."""
    private = os.environ.pop(_PRIVATE, None)
    if private is not None and os.environ.get(VARIABLE) == private:
        shutil.rmtree(private, ignore_errors=True)
