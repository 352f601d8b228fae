"""When beat asks for maintenance: the retention purge's schedule."""

from typing import Any

from webhooks.config import Settings
from worker.names import PURGE

# How often beat asks for a purge, and the longest one pass may run: a pass that has more to
# do leaves it to the next, so one pass never holds a thread for long.
RETENTION_INTERVAL_SECONDS = 300.0
RETENTION_PASS_SECONDS = 120.0


def retention_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat's entry for the purge, or none when retention keeps everything."""
    if settings.retention_days == 0:
        return {}
    return {
        "retention": {
            "task": PURGE,
            "schedule": RETENTION_INTERVAL_SECONDS,
            "options": {"expires": RETENTION_INTERVAL_SECONDS},
        }
    }
