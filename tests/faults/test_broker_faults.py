"""Redis loses everything (FLUSHALL, a restart without persistence): no delivery is lost."""

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import create_endpoint, get_delivery, json_body, post_event, row, send_event
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
    """Retries wait 2 s in a worker's memory (a countdown): some are waiting at any moment."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "2,2,2,2,2,2"}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis this test may flush, kill and start again."""
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(broker: RedisServer) -> str:
    """Every process of the test uses the private Redis."""
    return broker.url()


def restart(broker: RedisServer) -> None:
    """Kill Redis and start it again: empty, as after a restart without persistence."""
    broker.kill()
    broker.start()


@pytest.mark.parametrize("fault", [RedisServer.flushall, restart], ids=["flushall", "restart"])
def test_broker_forgetting_everything_mid_burst_loses_nothing(
    fault: Callable[[RedisServer], None],
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: RedisServer,
) -> None:
    """FLUSHALL, or a restart of Redis, halfway through 500 events: every event still arrives."""
    # Every fifth request fails, so that retries are waiting in the worker all the while.
    receiver.script("/hook", *[500, 200, 200, 200, 200] * (BURST // 5), 200)
    create_endpoint(client, receiver.url("/hook"))
    event_ids = set()
    for n in range(BURST):
        if n == BURST // 2:
            fault(broker)
            fault_at = time.monotonic()
        event_ids.add(post_event(client, data={"n": n})["id"])

    wait_for_deliveries(engine, "succeeded", BURST, timeout=90)
    recovered = time.monotonic() - fault_at
    # The scheduler re-sends lost messages, not attempts, and attempts under way when Redis
    # went still record in SQL: one request per audited attempt, no more.
    assert_sent_once_per_attempt(engine, receiver.received("/hook"), event_ids)
    print(f"\n[{fault.__name__}] all {BURST} delivered {recovered:.1f}s after it")


def test_broker_down_at_the_api_delays_but_loses_nothing(
    client: FlaskClient, engine: Engine, receiver: Receiver, broker: RedisServer
) -> None:
    """With Redis down, POST /v1/events still answers 202; once it is back, the event arrives."""
    create_endpoint(client, receiver.url("/hook"))
    broker.kill()

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
    client: FlaskClient, engine: Engine, receiver: Receiver, broker: RedisServer
) -> None:
    """Redis frozen (it takes connections, never answers): POST /v1/events is 202 within seconds."""
    create_endpoint(client, receiver.url("/hook"))
    post_event(client, data={"n": 0})  # the API now holds a pooled connection to Redis
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
