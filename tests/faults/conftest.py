"""Every fault test runs once on each broker: Redis, and RabbitMQ (quorum queues).

On RabbitMQ only with PostgreSQL: SQLite adds nothing there that the Redis runs do not
cover, and the suite's time is better spent elsewhere.
"""

from collections.abc import Callable

import pytest

from tests.support.brokers import redis_messages
from tests.support.rabbitmq import RabbitVhost


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_name(request: pytest.FixtureRequest) -> str:
    """The broker under test."""
    name: str = request.param
    return name


@pytest.fixture
def broker_url(broker_name: str, redis_url: str, request: pytest.FixtureRequest) -> str:
    """The broker every process of the test uses: the test Redis, or the session's vhost."""
    if broker_name == "rabbitmq":
        url: str = request.getfixturevalue("rabbitmq_url")
        return url
    return redis_url


@pytest.fixture
def env(env: dict[str, str], broker_url: str) -> dict[str, str]:
    """The shared environment on the broker under test (Redis keeps its REDIS_URL)."""
    return {**env, "BROKER_URL": broker_url}


@pytest.fixture
def broker_messages(
    broker_name: str, broker_url: str, request: pytest.FixtureRequest
) -> Callable[[], int]:
    """Count the delivery messages on the broker, waiting or reserved by a worker."""
    if broker_name == "rabbitmq":
        vhost: RabbitVhost = request.getfixturevalue("rabbitmq_vhost")
        return vhost.messages
    return lambda: redis_messages(broker_url)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the RabbitMQ runs on SQLite (see the module's docstring)."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(item, "callspec", None)
        chosen = params.params if params is not None else {}
        both = chosen.get("broker_name") == "rabbitmq" and chosen.get("database_url") == "sqlite"
        (dropped if both else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
