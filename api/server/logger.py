"""gunicorn's own lines ("Booting worker", ...) through the service's one logging set-up."""

import logging
from typing import Any

from gunicorn.glogging import Logger

from webhooks.config import log_settings
from webhooks.observability.logs import configure_logging


class ServiceLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, writing JSON or text lines like every other process of the service."""

    def setup(self, cfg: Any) -> None:
        """Log as WEBHOOKS_LOG_LEVEL and WEBHOOKS_LOG_FORMAT say, not as gunicorn's flags do."""
        level, log_format = log_settings()
        configure_logging(level, log_format)
        for logger in (self.error_log, self.access_log):
            # The root's handler formats them: gunicorn's own handlers would print plain text.
            logger.handlers = []
            logger.propagate = True
        self.error_log.setLevel(level)
        self.access_log.setLevel(logging.INFO)
