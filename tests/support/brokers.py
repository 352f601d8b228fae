"""Brokers a fault test may break: a private Redis, or the session's RabbitMQ vhost behind a gate.

Both offer the same faults, so one test covers both brokers. RabbitMQ is the machine's shared
server, never stopped: a TCP gate in front of it stands for the server going down or hanging,
and deleting the vhost's queues for a broker that lost its messages.
"""

from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import redis

from tests.support.faults import RedisServer, TcpGate
from tests.support.rabbitmq import RabbitVhost
from worker.names import DELIVERY_QUEUE, TIMED_QUEUE


class Broker(Protocol):
    """A broker under test and the faults it can suffer."""

    def url(self) -> str:
        """The broker URL every process of the test uses."""
        ...

    def forget(self) -> None:
        """Lose every message waiting in the broker, connections kept."""
        ...

    def restart(self) -> None:
        """Drop every connection and come back at once, with every message lost."""
        ...

    def stop(self) -> None:
        """Go down: connections dropped, new ones refused."""
        ...

    def start(self) -> None:
        """Come back up after `stop`."""
        ...

    def pause(self) -> None:
        """Hang: connections are taken but nothing is answered."""
        ...

    def resume(self) -> None:
        """Answer again after `pause`."""
        ...

    def messages(self) -> int:
        """How many delivery messages the broker holds, waiting or held by a worker."""
        ...


class RedisBroker:
    """A private redis-server without persistence."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server

    def url(self) -> str:
        return self.server.url()

    def forget(self) -> None:
        self.server.flushall()

    def restart(self) -> None:
        self.server.kill()
        self.server.start()

    def stop(self) -> None:
        self.server.kill()

    def start(self) -> None:
        self.server.start()

    def pause(self) -> None:
        self.server.pause()

    def resume(self) -> None:
        self.server.resume()

    def messages(self) -> int:
        return redis_messages(self.url())


class RabbitBroker:
    """The session's vhost on the shared RabbitMQ, reached through a gate this test controls."""

    def __init__(self, vhost: RabbitVhost) -> None:
        self.vhost = vhost
        self.gate = TcpGate(urlsplit(vhost.server_url).port or 5672)
        self.gate.open()

    def url(self) -> str:
        parts = urlsplit(self.vhost.url())
        credentials = parts.netloc.rpartition("@")[0]
        return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{self.gate.port}"))

    def forget(self) -> None:
        self.vhost.purge()

    def restart(self) -> None:
        # Quorum queues survive a real restart; this is the worse case, a broker that
        # comes back without them (and without their messages).
        self.gate.cut()
        self.vhost.delete_queues()
        self.gate.open()

    def stop(self) -> None:
        self.gate.cut()

    def start(self) -> None:
        self.gate.open()

    def pause(self) -> None:
        self.gate.freeze()

    def resume(self) -> None:
        self.gate.thaw()

    def messages(self) -> int:
        return self.vhost.messages()

    def close(self) -> None:
        """Take the gate away (and with it any connection still through it)."""
        self.gate.thaw()
        self.gate.cut()


def redis_messages(url: str) -> int:
    """Messages in a Redis broker: waiting in the delivery queues, or reserved by a worker."""
    client = redis.Redis.from_url(url)
    try:
        waiting = sum(int(client.llen(name)) for name in (DELIVERY_QUEUE, TIMED_QUEUE))
        return waiting + int(client.hlen("unacked"))
    finally:
        client.close()
