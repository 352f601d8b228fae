"""The Celery app for `celery -A worker`, configured from the environment."""

from webhooks.config import Settings
from worker.arenas import limit_malloc_arenas
from worker.celery_config import make_celery
from worker.observability import watch
from worker.startup import check_keys_at_start
from worker.tasks import register

limit_malloc_arenas()  # before the pool's threads start
settings = Settings.from_env()
check_keys_at_start(settings)
app = make_celery(settings)
watch(app, settings, register(app, settings))
