"""Webhook delivery: signed, retried, audited, replayable. The core: no Flask, no Celery."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("webhooks")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

USER_AGENT = f"webhooks/{__version__}"
