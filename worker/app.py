"""The Celery app for `celery -A worker`, configured from the environment."""

from webhooks.config import Settings
from worker.celery_config import make_celery

app = make_celery(Settings.from_env())
