"""Put delivery tasks on the broker by name: the only way the API reaches the worker."""

import logging
from collections.abc import Sequence

import redis
from celery import Celery

from webhooks.config import Settings
from webhooks.errors import Unavailable
from worker.celery_config import make_celery
from worker.names import DELIVER

log = logging.getLogger(__name__)


class CeleryDispatcher:
    """Enqueue `webhooks.deliver` tasks carrying a delivery id, nothing more."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: Settings) -> "CeleryDispatcher":
        """Build a dispatcher with its own Celery app (a producer only)."""
        return cls(make_celery(settings, publisher=True), settings)

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        """Queue one task per id over one connection; return the ids that were not queued."""
        sent = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for delivery_id in delivery_ids:
                    self.app.send_task(DELIVER, args=[delivery_id], producer=producer)
                    sent += 1
        except Exception as exc:  # redis, kombu and socket errors alike
            log.warning(
                "broker unavailable (%s): %d deliveries left to the scheduler",
                type(exc).__name__,
                len(delivery_ids) - sent,
            )
        return list(delivery_ids[sent:])

    def ping(self) -> None:
        """Raise Unavailable unless the broker answers within two seconds."""
        client = redis.Redis.from_url(
            self.settings.redis_url, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            raise Unavailable(f"the broker does not answer: {type(exc).__name__}") from None
        finally:
            client.close()
