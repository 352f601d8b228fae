"""Recovery after broker loss: a Redis broker that restarted empty, or was flushed, dropped
every queued message, and SQL still marks those deliveries as queued.

The scheduler leaves a mark in the broker's Redis and checks it every pass; when the mark is
gone, so is whatever was queued with it, and every queued delivery is queued again at once
(not a lease later). Messages a worker had already taken run too: the SQL claim lets only one
attempt through, so duplicates are bounded by what was in flight. RabbitMQ's quorum queues
keep their messages across a restart, so there is nothing to watch there.
"""

import logging

import redis

from webhooks.config import Settings

log = logging.getLogger(__name__)

MARK = "webhooks:broker-mark"


class BrokerWatch:
    """Tell, once per loss, that the broker lost its queued messages."""

    def __init__(self, client: redis.Redis | None) -> None:
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> "BrokerWatch":
        """Watch the Redis broker; nothing to watch on RabbitMQ."""
        if settings.broker_is_rabbitmq:
            return cls(None)
        client = redis.Redis.from_url(
            settings.broker, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        return cls(client)

    def lost(self) -> bool:
        """True if the mark was gone (and leave it again): queued messages are lost."""
        if self.client is None:
            return False
        try:
            # SET NX answers whether the mark was missing, and leaves it, in one step.
            return bool(self.client.set(MARK, b"1", nx=True))
        except redis.RedisError:
            return False  # down now: the pass after it is back finds the mark gone
