"""Put delivery tasks on the broker by name: the only way the API reaches the worker."""

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from celery import Celery
from kombu.connection import Connection

from webhooks.config import Settings
from webhooks.errors import Unavailable
from worker.celery_config import make_celery
from worker.names import DELIVER, DELIVERY_QUEUE

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 2.0


class CeleryDispatcher:
    """Enqueue `webhooks.deliver` tasks carrying a delivery id, nothing more."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.queue = app.amqp.queues[DELIVERY_QUEUE]

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

    def publish(self, tasks: Sequence[tuple[str, list[Any]]]) -> None:
        """Publish (task name, arguments) pairs as Celery messages over one connection.

        Each message is serialised here, once, rather than by `send_task` (a third of the
        API's time per event went there), and they all go out together: one Redis
        pipeline, or one RabbitMQ channel.
        """
        with self.app.producer_or_acquire() as producer, producer.batch():
            for name, args in tasks:
                headers, properties, body = self._message(name, args)
                producer.publish(
                    body,
                    # By queue name through the default exchange: on Redis this survives a
                    # FLUSHALL (no binding to lose); on RabbitMQ `declare` makes sure the
                    # queue exists before the first message, or RabbitMQ would drop it.
                    exchange="",
                    routing_key=self.queue.name,
                    declare=[self.queue],
                    headers=headers,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,
                    retry=True,
                    retry_policy=self.app.conf.task_publish_retry_policy,
                    **properties,
                )

    def _message(self, name: str, args: list[Any]) -> tuple[dict[str, Any], dict[str, Any], bytes]:
        """Celery's own message for a task (protocol 2), with its body serialised once."""
        task_id = str(uuid.uuid4())
        # repr(), not Celery's saferepr: the arguments are a few short ids.
        message = self.app.amqp.as_task_v2(
            task_id, name, args=args, ignore_result=True, argsrepr=repr(args), kwargsrepr="{}"
        )
        body = json.dumps(message.body, separators=(",", ":")).encode()
        return message.headers, message.properties, body

    def ping(self) -> None:
        """Raise Unavailable unless the broker answers within two seconds."""
        try:
            if self.settings.broker_is_rabbitmq:
                _ping_rabbitmq(self.settings.broker)
            else:
                _ping_redis(self.settings.broker)
        except Exception as exc:  # refused, timed out, or refused our credentials: not ready
            raise Unavailable(f"the broker does not answer: {type(exc).__name__}") from None


def _ping_redis(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=PING_TIMEOUT_SECONDS, socket_timeout=PING_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


def _ping_rabbitmq(url: str) -> None:
    # connect() is the whole AMQP handshake: the server answered, and took our credentials.
    timeouts = {"read_timeout": PING_TIMEOUT_SECONDS, "write_timeout": PING_TIMEOUT_SECONDS}
    with Connection(
        url, connect_timeout=PING_TIMEOUT_SECONDS, transport_options=timeouts
    ) as connection:
        connection.connect()
