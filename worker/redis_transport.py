"""kombu's Redis transport, with one of its bugs worked around so a Redis restart cannot stop
a worker.

When a connection is lost mid-read, the worker closes it and then, on the closed connection,
tries to put back its unacknowledged messages: kombu builds a client from a connection whose
settings are already gone, and an AttributeError escapes that stops the worker (about one
worker in eight per Redis restart). Raised as a connection error instead, it is ignored like
the loss itself and the worker reconnects; the messages go back when their visibility timeout
ends, and the scheduler re-queues from SQL whatever the broker lost.
"""

from typing import Any

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    """A channel that refuses to build clients for a closed connection."""

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """The Redis transport with that channel."""

    Channel = Channel
