"""Redis loses everything (FLUSHALL, a restart without persistence): no delivery is lost."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from tests.support.faults import (
    RedisServer,
    assert_attempts_consistent,
    attempts_per_event,
    create_endpoint,
    ids_received,
    post_event,
    wait_for_status,
)
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver
from webhooks.models import deliveries_table as deliveries

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

BURST = 500


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Retries wait 2 s in a worker's memory (a countdown): some are waiting at any moment."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "2,2,2,2,2,2"}


def fail_every_fifth(receiver: Receiver) -> None:
    """Answer 500 to every fifth request of the burst, so that retries are always pending."""
    receiver.script("/hook", *[500, 200, 200, 200, 200] * (BURST // 5), 200)


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


def test_flushall_during_a_burst_loses_nothing(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: RedisServer,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """FLUSHALL halfway through 500 events: the scheduler re-sends what the broker forgot."""
    fail_every_fifth(receiver)
    create_endpoint(client, receiver.url("/hook"))
    event_ids = set()
    for n in range(BURST):
        if n == BURST // 2:
            broker.flushall()
            flushed_at = time.monotonic()
        event_ids.add(post_event(client, n)["id"])

    wait_for_status(engine, "succeeded", BURST, timeout=90)
    recovered = time.monotonic() - flushed_at
    counts = ids_received(receiver.received("/hook"))
    assert set(counts) == event_ids
    assert_attempts_consistent(engine)
    # Lost messages are re-sent, not attempts: one request per audited attempt, no more.
    assert counts == attempts_per_event(engine)
    print(f"\n[FLUSHALL] all {BURST} delivered {recovered:.1f}s after the flush")


def test_redis_restart_during_a_burst_loses_nothing(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: RedisServer,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """Redis killed and started empty halfway through 500 events: every delivery still succeeds."""
    fail_every_fifth(receiver)
    create_endpoint(client, receiver.url("/hook"))
    event_ids = set()
    for n in range(BURST):
        if n == BURST // 2:
            broker.kill()
            broker.start()
            restarted_at = time.monotonic()
        event_ids.add(post_event(client, n)["id"])

    wait_for_status(engine, "succeeded", BURST, timeout=90)
    recovered = time.monotonic() - restarted_at
    counts = ids_received(receiver.received("/hook"))
    assert set(counts) == event_ids
    assert_attempts_consistent(engine)
    # Attempts under way when Redis died still record in SQL: none is sent twice.
    assert counts == attempts_per_event(engine)
    print(f"\n[Redis restart] all {BURST} delivered {recovered:.1f}s after the restart")


def test_broker_down_at_the_api_delays_but_loses_nothing(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: RedisServer,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """With Redis down, POST /v1/events still answers 202; once it is back, the event arrives."""
    create_endpoint(client, receiver.url("/hook"))
    broker.kill()

    started = time.monotonic()
    response = client.post("/v1/events", json={"type": "order.created", "data": {"n": 1}})
    answered = time.monotonic() - started
    assert response.status_code == 202, response.json
    event_id = response.json["id"]
    (delivery,) = response.json["deliveries"]
    # The API does not hang on a dead broker: a short publish retry, then the scheduler's job.
    assert answered < 5
    stored = client.get(f"/v1/events/{event_id}")
    assert stored.status_code == 200
    assert [d["status"] for d in stored.json["deliveries"]] == ["pending"]
    assert client.get("/readyz").json["broker"] == "unavailable"
    # Handed to the scheduler at once, rather than after a lease's worth of waiting.
    with engine.connect() as conn:
        mark = conn.execute(
            select(deliveries.c.queued_until).where(deliveries.c.id == delivery["id"])
        ).scalar_one()
    assert mark is None

    broker.start()
    back = time.monotonic()
    wait_for_status(engine, "succeeded", 1, timeout=60)
    received = receiver.received("/hook")
    assert [r.headers["webhook-id"] for r in received] == [event_id]
    assert client.get(f"/v1/deliveries/{delivery['id']}").json["attempt_count"] == 1
    print(
        f"\n[broker down at the API] 202 in {answered:.2f}s; delivered"
        f" {time.monotonic() - back:.1f}s after the broker came back"
    )


def test_broker_hanging_at_the_api_costs_seconds_not_minutes(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    broker: RedisServer,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """Redis frozen (it takes connections, never answers): POST /v1/events is 202 within seconds."""
    create_endpoint(client, receiver.url("/hook"))
    post_event(client, 0)  # the API now holds a pooled connection to Redis
    wait_for_status(engine, "succeeded", 1)

    broker.pause()
    try:
        started = time.monotonic()
        response = client.post("/v1/events", json={"type": "order.created", "data": {"n": 1}})
        answered = time.monotonic() - started
    finally:
        broker.resume()
    assert response.status_code == 202, response.json
    # One short try and one retry, then the scheduler's job (it was 40 s with the worker's
    # 10 s socket timeout and three retries).
    assert answered < 5
    wait_for_status(engine, "succeeded", 2, timeout=60)
    assert len(receiver.received("/hook")) == 2
    print(f"\n[broker hanging at the API] 202 in {answered:.1f}s")
