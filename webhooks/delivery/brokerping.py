"""Whether the broker answers: Redis's PING, or RabbitMQ's whole AMQP handshake."""

import redis

from webhooks.config import AMQP_SCHEMES, broker_scheme

PING_TIMEOUT_SECONDS = 2.0


def ping_broker(url: str, timeout: float = PING_TIMEOUT_SECONDS) -> None:
    """Return if the broker at `url` answers within `timeout` seconds; raise what failed if not."""
    if broker_scheme(url) in AMQP_SCHEMES:
        _ping_rabbitmq(url, timeout)
    else:
        _ping_redis(url, timeout)


def _ping_redis(url: str, timeout: float) -> None:
    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()


def _ping_rabbitmq(url: str, timeout: float) -> None:
    # Celery's transport library, imported only for an AMQP broker.
    from kombu.connection import Connection

    # connect() is the whole AMQP handshake: the server answered, and took our credentials.
    timeouts = {"read_timeout": timeout, "write_timeout": timeout}
    options = {"connect_timeout": timeout, "transport_options": timeouts}
    with Connection(url, **options) as connection:  # type: ignore[no-untyped-call]
        connection.connect()
