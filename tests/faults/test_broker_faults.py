"""The broker loses everything, goes down or hangs: no delivery is lost, the API stays quick.

On Redis: FLUSHALL, a restart without persistence, a killed or frozen server. On RabbitMQ
(the machine's shared server, which the tests never stop): its queues purged or deleted, and
a gate in front of it that cuts, refuses or holds every connection.
"""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import create_endpoint, get_delivery, json_body, post_event, row, send_event
from tests.support.brokers import Broker, RabbitBroker, RedisBroker
from tests.support.faults import RedisServer, assert_sent_once_per_attempt, wait_for_deliveries
from tests.support.receiver import Receiver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
    pytest.mark.usefixtures("worker", "beat"),  # a worker and a scheduler run in every test
]

BURST = 500


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Retries wait 2 s (a countdown, in a worker or in RabbitMQ): some wait at any moment."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "2,2,2,2,2,2"}


@pytest.fixture
def broker(broker_name: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Broker]:
    """A broker this test may empty, stop and hang: a private Redis, or the vhost behind a gate."""
    if broker_name == "redis":
        server = RedisServer(tmp_path).start()
        yield RedisBroker(server)
        server.kill()
        return
    request.getfixturevalue("rabbitmq_url")  # emptied of the last test's messages
    rabbit = RabbitBroker(request.getfixturevalue("rabbitmq_vhost"))
    yield rabbit
    rabbit.close()


@pytest.fixture
def broker_url(broker: Broker) -> str:
    """Every process of the test uses the broker it may break."""
    return broker.url()


@pytest.mark.parametrize("fault", ["forget", "restart"])
def test_broker_forgetting_everything_mid_burst_loses_nothing(
    fault: str,
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: Broker,
) -> None:
    """Every message lost, or a restart that loses them, halfway through 500 events: all arrive."""
    # Every fifth request fails, so that retries are waiting in the worker all the while.
    receiver.script("/hook", *[500, 200, 200, 200, 200] * (BURST // 5), 200)
    create_endpoint(client, receiver.url("/hook"))
    event_ids = set()
    for n in range(BURST):
        if n == BURST // 2:
            getattr(broker, fault)()
            fault_at = time.monotonic()
        event_ids.add(post_event(client, data={"n": n})["id"])

    wait_for_deliveries(engine, "succeeded", BURST, timeout=90)
    recovered = time.monotonic() - fault_at
    # The scheduler re-sends lost messages, not attempts, and attempts under way when the
    # broker went still record in SQL: one request per audited attempt, no more.
    assert_sent_once_per_attempt(engine, receiver.received("/hook"), event_ids)
    print(f"\n[{fault}] all {BURST} delivered {recovered:.1f}s after it")


def test_broker_down_at_the_api_delays_but_loses_nothing(
    client: FlaskClient, engine: Engine, receiver: Receiver, broker: Broker
) -> None:
    """With the broker down, POST /v1/events still answers 202; once it is back, it arrives."""
    create_endpoint(client, receiver.url("/hook"))
    broker.stop()

    started = time.monotonic()
    response = send_event(client, data={"n": 1})
    answered = time.monotonic() - started
    accepted = json_body(response, 202)
    event_id = accepted["id"]
    (delivery,) = accepted["deliveries"]
    # The API does not hang on a dead broker: a short publish retry, then the scheduler's job.
    assert answered < 5
    stored = json_body(client.get(f"/v1/events/{event_id}"))
    assert [d["status"] for d in stored["deliveries"]] == ["pending"]
    assert json_body(client.get("/readyz"), 503)["broker"] == "unavailable"
    # Handed to the scheduler at once, rather than after a lease's worth of waiting.
    assert row(engine, "deliveries", delivery["id"])["queued_until"] is None

    broker.start()
    back = time.monotonic()
    wait_for_deliveries(engine, "succeeded", 1, timeout=60)
    received = receiver.received("/hook")
    assert [r.headers["webhook-id"] for r in received] == [event_id]
    assert get_delivery(client, delivery["id"])["attempt_count"] == 1
    print(
        f"\n[broker down at the API] 202 in {answered:.2f}s; delivered"
        f" {time.monotonic() - back:.1f}s after the broker came back"
    )


def test_broker_hanging_at_the_api_costs_seconds_not_minutes(
    client: FlaskClient, engine: Engine, receiver: Receiver, broker: Broker
) -> None:
    """The broker frozen (takes connections, never answers): POST /v1/events is 202 in seconds."""
    create_endpoint(client, receiver.url("/hook"))
    post_event(client, data={"n": 0})  # the API now holds a pooled connection to the broker
    wait_for_deliveries(engine, "succeeded", 1)

    broker.pause()
    try:
        started = time.monotonic()
        response = send_event(client, data={"n": 1})
        answered = time.monotonic() - started
    finally:
        broker.resume()
    json_body(response, 202)
    # One short try and one retry, then the scheduler's job (it was 40 s with the worker's
    # 10 s socket timeout and three retries).
    assert answered < 5
    wait_for_deliveries(engine, "succeeded", 2, timeout=60)
    assert len(receiver.received("/hook")) == 2
    print(f"\n[broker hanging at the API] 202 in {answered:.1f}s")
