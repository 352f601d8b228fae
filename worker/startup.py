"""Refuse to start a worker or beat whose keys cannot open what the database holds."""

import logging
from typing import Any

from celery.signals import beat_init, worker_init

from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.errors import ConfigError
from webhooks.security.sealed_rows import check_sealed_rows
from webhooks.security.sealing import Keyring

log = logging.getLogger(__name__)


def check_keys_at_start(settings: Settings) -> None:
    """Check the keys when a worker or beat starts; stop it, naming the problem, if they fail."""
    # A missing or malformed key stops every process that imports the app, at once.
    keyring = Keyring.from_settings(settings)

    def check(**_: Any) -> None:
        engine = make_engine(settings.database_url, pool_size=1)
        try:
            check_sealed_rows(engine, keyring)
        except ConfigError as exc:
            log.critical("%s", exc.detail)
            # SystemExit, not an exception: Celery logs and ignores what a signal handler raises.
            raise SystemExit(f"webhooks: {exc.detail}") from None
        finally:
            engine.dispose()

    worker_init.connect(check, weak=False)
    beat_init.connect(check, weak=False)
