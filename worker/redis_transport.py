"""kombu's Redis transport, with one client per channel and one of its bugs worked around.

- kombu builds a new `redis.Redis` for every acknowledgement and every reserved message's
  unacked bookkeeping; building one copies redis-py's table of response callbacks, about a
  tenth of a worker's CPU. A client is only a front to the channel's connection pool and is
  safe to share between threads, so the channel keeps one: the same commands, on the same
  connections, in the same order, so every guarantee of the transport stands.
- When a connection is lost mid-read, the worker closes it and then, on the closed
  connection, tries to put back its unacknowledged messages: kombu builds a client from a
  connection whose settings are already gone, and an AttributeError escapes that stops the
  worker (about one worker in eight per Redis restart). Raised as a connection error instead,
  it is ignored like the loss itself and the worker reconnects; the messages go back when
  their visibility timeout ends, and the scheduler re-queues from SQL what the broker lost.
"""

import contextlib
from collections.abc import Iterator
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

# Broker URL schemes this transport serves. rediss:// keeps kombu's own: kombu turns TLS on
# by the transport's name being "rediss", which a class name would switch off.
SCHEMES = ("redis",)


class Channel(kombu_redis.Channel):
    """A Redis channel that reuses one client, and builds none for a closed connection."""

    _shared: Any = None

    @contextlib.contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """The client given, or the channel's own (made again when its pool is)."""
        if client:
            yield client
            return
        pool = self.pool
        shared = self._shared
        # kombu drops the pool after a fork or on close; a client of the old one would
        # talk to connections that were disconnected.
        if shared is None or shared.connection_pool is not pool:
            shared = self._shared = self._create_client()
        yield shared

    def _connparams(self, asynchronous: bool = False) -> Any:
        if self.connection.client is None:
            raise redis.ConnectionError("the broker connection is already closed")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    """kombu's Redis transport with the channel above."""

    Channel = Channel


# How Celery's `broker_transport` names it: kombu resolves "module:Class".
NAME = f"{__name__}:Transport"
