"""The scheduler and held deliveries, on SQLite and PostgreSQL with the real test Redis: each
endpoint's line is released no faster than its limits, and a broker that lost its messages has
everything queued again at once."""

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import redis
from sqlalchemy import Engine

from tests.support.api import queued_delivery_ids
from tests.support.rows import add_deliveries, add_endpoint, row
from webhooks.config import Settings
from webhooks.delivery.broker_loss import BrokerWatch
from webhooks.delivery.held import Lines
from webhooks.delivery.requeue import Requeuer
from webhooks.delivery.throttle import Limits, Throttle, Verdict
from webhooks.models import deliveries_table as deliveries
from webhooks.times import utcnow
from worker.dispatch import CeleryDispatcher


@pytest.fixture
def now() -> datetime:
    """The scheduler's clock, stopped for the test."""
    return utcnow()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A pass every second: rate-limited lines are released two seconds' worth at a time."""
    return replace(settings, scheduler_interval_seconds=1, max_in_flight_per_endpoint=4)


@pytest.fixture
def watch(redis_url: str) -> Iterator[BrokerWatch]:
    """Watch the test Redis, the broker of these tests."""
    client = redis.Redis.from_url(redis_url)
    yield BrokerWatch(client)
    client.close()


@pytest.fixture
def requeuer(
    settings: Settings, engine: Engine, now: datetime, watch: BrokerWatch
) -> Iterator[Requeuer]:
    """A scheduler on the test database publishing to the test Redis."""
    dispatcher = CeleryDispatcher.from_settings(settings)
    yield Requeuer(settings, engine, dispatcher, clock=lambda: now, broker=watch)
    dispatcher.app.close()


def held_line(engine: Engine, now: datetime, count: int, **endpoint: object) -> list[str]:
    """`count` due deliveries held behind one endpoint, oldest first."""
    endpoint_id = add_endpoint(engine, now, **endpoint)
    due = [now - timedelta(seconds=count - n) for n in range(count)]
    return add_deliveries(engine, due, endpoint_id, held=True)


def test_held_lines_are_released_per_endpoint_within_their_limits(
    requeuer: Requeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """Per pass: the cap's worth (default 4, or max_in_flight), or two seconds of its rate."""
    default = held_line(engine, now, 10)
    capped = held_line(engine, now, 10, max_in_flight=2)
    limited = held_line(engine, now, 10, rate_limit=1)  # two per pass of a second

    tick = requeuer.tick()

    released = [*default[:4], *capped[:2], *limited[:2]]
    assert tick.released == 8 and tick.queued == 0
    assert sorted(queued_delivery_ids(redis_url)) == sorted(released)
    for delivery_id in default + capped + limited:
        after = row(engine, deliveries, delivery_id)
        assert after.held is (delivery_id not in released)
        assert after.queued_until == (now if delivery_id in released else None)


def test_a_held_delivery_not_yet_due_stays_held(
    requeuer: Requeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """A delivery held until a later instant of its rate limit waits for it."""
    [later] = add_deliveries(engine, [now + timedelta(seconds=5)], held=True)

    assert requeuer.tick().released == 0
    assert row(engine, deliveries, later).held
    assert queued_delivery_ids(redis_url) == []


def test_a_broker_that_lost_its_messages_has_them_queued_again_at_once(
    requeuer: Requeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """Queued a moment ago (far from stale), then the broker is flushed: queued at the next pass."""
    requeuer.tick()  # the first pass leaves its mark
    queued = add_deliveries(engine, [now, now], queued_until=now)
    assert requeuer.tick().queued == 0  # the broker has them: nothing to do

    client = redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    assert requeuer.tick().queued == 2
    assert sorted(queued_delivery_ids(redis_url)) == sorted(queued)


def test_due_deliveries_over_their_endpoints_quota_are_held(
    requeuer: Requeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """A backlog for one endpoint becomes due at once: its quota is queued, the rest held, and
    another endpoint's deliveries are not kept waiting behind it."""
    endpoint_id = add_endpoint(engine, now, max_in_flight=3)
    due = [now - timedelta(seconds=60) + timedelta(milliseconds=n) for n in range(50)]
    backlog = add_deliveries(engine, due, endpoint_id)
    [other] = add_deliveries(engine, [now])

    tick = requeuer.tick()

    assert (tick.queued, tick.held, tick.released) == (4, 47, 0)
    assert sorted(queued_delivery_ids(redis_url)) == sorted([*backlog[:3], other])
    assert [row(engine, deliveries, d).held for d in backlog].count(True) == 47
    # The next pass releases the next three of the line, in order.
    assert requeuer.tick().released == 3


def test_with_the_throttle_a_pass_sends_only_what_the_endpoint_has_room_for(
    settings: Settings, engine: Engine, redis_url: str, now: datetime, watch: BrokerWatch
) -> None:
    """The throttle's word beats the limits': a hanging endpoint down to one slot, that slot
    taken, gets nothing from a pass; once the slot is free, one."""
    client = redis.Redis.from_url(redis_url)
    throttle = Throttle(client, lease_seconds=60, horizon=2)
    dispatcher = CeleryDispatcher.from_settings(settings)
    requeuer = Requeuer(
        settings, engine, dispatcher, clock=lambda: now, broker=watch, throttle=throttle
    )
    line = held_line(engine, now, 5)
    endpoint_id = str(row(engine, deliveries, line[0]).endpoint_id)
    limits = Limits(rate=None, in_flight=4)
    assert throttle.acquire(endpoint_id, limits, "busy", False).verdict is Verdict.GO

    assert requeuer.tick().released == 0
    throttle.release(endpoint_id, "busy", timed_out=True, most=4)  # still one slot: now free
    assert requeuer.tick().released == 1
    assert queued_delivery_ids(redis_url) == line[:1]
    dispatcher.app.close()
    client.close()


def test_a_delivery_held_while_a_line_is_closed_keeps_its_mark(
    settings: Settings,
    engine: Engine,
    redis_url: str,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker finds its endpoint's line empty and ends it, while another holds a delivery
    there and marks the line: the mark stays (or no freed slot would ever hand the delivery
    over), and the one that ended the line hands it over itself."""
    client = redis.Redis.from_url(redis_url)
    throttle = Throttle(client, lease_seconds=60, horizon=2)
    dispatcher = CeleryDispatcher.from_settings(settings)
    endpoint_id = add_endpoint(engine, now)
    late: list[str] = []
    clear = throttle.clear_waiting

    def after_another_held(endpoint: str) -> None:
        # The line was found empty; before it is ended, another worker holds a delivery
        # there and marks the line.
        if not late:
            late.extend(add_deliveries(engine, [now], endpoint_id, held=True))
            throttle.mark_waiting(endpoint_id)
        clear(endpoint)

    monkeypatch.setattr(throttle, "clear_waiting", after_another_held)
    Lines(engine, dispatcher, throttle).wake({endpoint_id: Limits(None, 4)}, now)

    assert throttle.waiting([endpoint_id]) == {endpoint_id}
    assert not row(engine, deliveries, late[0]).held
    assert queued_delivery_ids(redis_url) == late
    dispatcher.app.close()
    client.close()
