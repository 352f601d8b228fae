"""The Celery-only floor: the service's Celery configuration with a task that only POSTs.

    celery -A bench.floor worker     (BROKER_URL or REDIS_URL from the environment)

What delivery would cost with Celery and an HTTP client alone: no claim, no signing, no
record. Every benchmark that compares against "a Celery task that only POSTs" runs this.
"""

import threading
from typing import Any

import requests

from webhooks.config import Settings
from worker.celery_config import make_celery

POST = "bench.post"
HEADERS = {"content-type": "application/json", "webhook-id": ""}

app = make_celery(Settings.from_env())
_local = threading.local()


@app.task(name=POST)
def post(url: str, message_id: str, body: str) -> None:
    """POST `body` to `url` with a keep-alive session of this thread's own."""
    session: Any = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    headers = {**HEADERS, "webhook-id": message_id}
    session.post(url, data=body.encode(), headers=headers, timeout=15).raise_for_status()
