"""Put delivery tasks on the broker by name: the only way the API reaches the worker."""

import logging
from collections.abc import Sequence

from celery import Celery

from webhooks.config import Settings
from webhooks.delivery.brokerping import ping_broker
from webhooks.errors import Unavailable
from worker.celery_config import make_celery
from worker.names import DELIVER, DELIVERY_QUEUE
from worker.publishing import KombuPublisher, Publisher, RedisPublisher, Task

log = logging.getLogger(__name__)


class CeleryDispatcher:
    """Enqueue `webhooks.deliver` tasks carrying a delivery id, nothing more."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.publisher: Publisher = (
            KombuPublisher(app)
            if settings.broker_is_rabbitmq
            else RedisPublisher(app, settings.broker)
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> "CeleryDispatcher":
        """Build a dispatcher with its own Celery app (a producer only)."""
        return cls(make_celery(settings, publisher=True), settings)

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        """Queue one task per id in one batch; return the ids that were not queued."""
        if not delivery_ids:
            return []
        try:
            self.publish([(DELIVER, [delivery_id]) for delivery_id in delivery_ids])
        except Exception as exc:  # redis, kombu and socket errors alike
            # Some may have gone out before the failure: the scheduler sends those again,
            # and the SQL claim makes the second message a no-op.
            log.warning(
                "broker unavailable (%s): %d deliveries left to the scheduler",
                type(exc).__name__,
                len(delivery_ids),
            )
            return list(delivery_ids)
        return []

    def publish(self, tasks: Sequence[Task]) -> None:
        """Publish (task name, arguments) pairs on the delivery queue, in one batch."""
        self.publisher.publish(DELIVERY_QUEUE, tasks)

    def ping(self) -> None:
        """Raise Unavailable unless the broker answers within two seconds."""
        try:
            ping_broker(self.settings.broker)
        except Exception as exc:  # refused, timed out, or refused our credentials: not ready
            raise Unavailable(f"the broker does not answer: {type(exc).__name__}") from None
