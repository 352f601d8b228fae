"""The scheduler on SQLite and PostgreSQL, publishing to the real test Redis.

It reaps leases that outlived their worker and queues what SQL says is due and nobody holds.
"""

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, select

from tests.support import free_port
from tests.support.api import queued_delivery_ids
from tests.support.rows import add_deliveries, add_delivery, add_endpoint, attempt_rows, row
from webhooks.config import Settings
from webhooks.delivery.requeue import Requeuer, Tick
from webhooks.models import CANCELLED, FAILED, PENDING, SUCCEEDED
from webhooks.models import deliveries_table as deliveries
from webhooks.times import utcnow
from worker.dispatch import CeleryDispatcher

LEASE = timedelta(seconds=5)  # WEBHOOKS_LEASE_SECONDS in the `env` fixture
MakeRequeuer = Callable[..., Requeuer]
ON_POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def now() -> datetime:
    """The scheduler's clock, stopped for the test."""
    return utcnow()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A whole minute per tick: batches on a busy machine must not run out of time."""
    return replace(settings, scheduler_interval_seconds=60)


@pytest.fixture
def make_requeuer(settings: Settings, engine: Engine, now: datetime) -> Iterator[MakeRequeuer]:
    """Build schedulers on the test database that publish to the test Redis, or to `settings`'."""
    apps = []

    def make(
        batch_size: int = 500, settings: Settings = settings, engine: Engine = engine
    ) -> Requeuer:
        dispatcher = CeleryDispatcher.from_settings(settings)
        apps.append(dispatcher.app)
        return Requeuer(settings, engine, dispatcher, batch_size=batch_size, clock=lambda: now)

    yield make
    for app in apps:
        app.close()


@pytest.mark.parametrize(
    ("attempt_count", "run_start", "status"),
    [(1, 0, PENDING), (3, 0, PENDING), (4, 0, FAILED), (5, 2, PENDING)],
    ids=["first-attempt", "third", "last-of-schedule", "manual-retry-run"],
)
def test_a_dead_workers_attempt_is_recorded_and_sent_again(
    make_requeuer: MakeRequeuer,
    engine: Engine,
    redis_url: str,
    now: datetime,
    attempt_count: int,
    run_start: int,
    status: str,
) -> None:
    """An expired lease: a worker_lost attempt, then due at once, or failed past the schedule."""
    expired = now - timedelta(seconds=1)
    lease: dict[str, Any] = {"lease_token": "dead", "lease_expires_at": expired}
    counts: dict[str, Any] = {"attempt_count": attempt_count, "run_start": run_start}
    delivery_id = add_delivery(engine, now - timedelta(minutes=1), **lease, **counts)

    tick = make_requeuer().tick()

    again = status == PENDING
    assert tick == Tick(reaped=1, queued=int(again), unqueued=0)
    [lost] = attempt_rows(engine, delivery_id)
    assert (lost.number, lost.error, lost.outcome) == (attempt_count, "worker_lost", "failure")
    assert (lost.started_at, lost.duration_ms, lost.status_code) == (expired - LEASE, None, None)
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.attempt_count) == (status, attempt_count)
    assert (after.lease_token, after.lease_expires_at) == (None, None)
    assert after.next_attempt_at == (now if again else None)
    assert after.queued_until == (now if again else None)
    assert queued_delivery_ids(redis_url) == ([delivery_id] if again else [])


def test_a_cancelled_delivery_with_an_expired_lease_stays_cancelled(
    make_requeuer: MakeRequeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """Cancelled while its worker died: the lost attempt is audited, nothing is sent again."""
    expired = now - timedelta(seconds=1)
    lease: dict[str, Any] = {"lease_token": "dead", "lease_expires_at": expired}
    delivery_id = add_delivery(
        engine, now, status=CANCELLED, next_attempt_at=None, attempt_count=2, **lease
    )

    assert make_requeuer().tick() == Tick(reaped=1, queued=0, unqueued=0)
    [lost] = attempt_rows(engine, delivery_id)
    assert (lost.number, lost.error) == (2, "worker_lost")
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.lease_token, after.lease_expires_at) == (CANCELLED, None, None)
    assert after.next_attempt_at is None
    assert queued_delivery_ids(redis_url) == []


def test_a_live_lease_is_left_alone(
    make_requeuer: MakeRequeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """An attempt still within its lease is neither reaped nor sent a second time."""
    until = now + timedelta(milliseconds=1)
    delivery_id = add_delivery(
        engine, now, attempt_count=1, lease_token="live", lease_expires_at=until
    )

    assert make_requeuer().tick() == Tick()
    assert attempt_rows(engine, delivery_id) == []
    after = row(engine, deliveries, delivery_id)
    assert (after.lease_token, after.lease_expires_at, after.status) == ("live", until, PENDING)
    assert queued_delivery_ids(redis_url) == []


def test_only_due_deliveries_nobody_will_send_are_queued(
    make_requeuer: MakeRequeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """Never queued, or queued a lease ago and never run: queued, earliest first; nothing else."""
    second = add_delivery(engine, now, queued_until=None)
    stale_mark = now - LEASE - timedelta(seconds=1)
    first = add_delivery(engine, now - timedelta(minutes=5), queued_until=stale_mark)
    fresh_mark = now - LEASE + timedelta(seconds=1)
    others = [
        add_delivery(engine, now, queued_until=fresh_mark),  # its task may still be on its way
        add_delivery(engine, now, queued_until=now + timedelta(minutes=1)),  # a countdown
        add_delivery(engine, now + timedelta(seconds=1)),  # not due yet
        add_delivery(engine, now, lease_token="live", lease_expires_at=now + LEASE),
        *(add_delivery(engine, now, status=s) for s in (SUCCEEDED, FAILED, CANCELLED)),
    ]
    before = {other: row(engine, deliveries, other) for other in others}

    assert make_requeuer().tick() == Tick(reaped=0, queued=2, unqueued=0)
    assert queued_delivery_ids(redis_url) == [first, second]
    assert {row(engine, deliveries, d).queued_until for d in (first, second)} == {now}
    assert {other: row(engine, deliveries, other) for other in others} == before


def test_one_tick_queues_every_batch_in_due_order(
    make_requeuer: MakeRequeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """A backlog bigger than a batch is queued in one tick, the longest-waiting first."""
    ids = {add_delivery(engine, now - timedelta(seconds=s)): s for s in (3, 7, 1, 9, 5)}

    assert make_requeuer(batch_size=2).tick() == Tick(reaped=0, queued=5, unqueued=0)
    assert queued_delivery_ids(redis_url) == sorted(ids, key=ids.__getitem__, reverse=True)
    # The next tick finds nothing left to do.
    assert make_requeuer(batch_size=2).tick() == Tick()


def test_nothing_is_lost_while_the_broker_is_down(
    make_requeuer: MakeRequeuer, settings: Settings, engine: Engine, redis_url: str, now: datetime
) -> None:
    """A refused publish clears the queued marks; the next tick with a broker queues them."""
    due = {add_delivery(engine, now), add_delivery(engine, now)}
    down = replace(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")

    assert make_requeuer(settings=down).tick() == Tick(reaped=0, queued=0, unqueued=2)
    assert [row(engine, deliveries, d).queued_until for d in due] == [None, None]
    assert make_requeuer().tick() == Tick(reaped=0, queued=2, unqueued=0)
    assert set(queued_delivery_ids(redis_url)) == due


@ON_POSTGRES
def test_rows_another_scheduler_holds_are_skipped_not_waited_for(
    make_requeuer: MakeRequeuer, settings: Settings, redis_url: str, now: datetime
) -> None:
    """While another pass holds some due rows, this one queues the rest without waiting."""
    # A scheduler that waited on the lock would fail here within seconds rather than hang.
    engine = create_engine(settings.database_url, connect_args={"options": "-c lock_timeout=5s"})
    try:
        held, free = add_delivery(engine, now), add_delivery(engine, now)
        with engine.begin() as other_pass:
            other_pass.execute(
                select(deliveries.c.id).where(deliveries.c.id == held).with_for_update()
            )
            assert make_requeuer(engine=engine).tick() == Tick(reaped=0, queued=1, unqueued=0)
        assert queued_delivery_ids(redis_url) == [free]
    finally:
        engine.dispose()


@ON_POSTGRES
def test_two_schedulers_at_once_queue_each_delivery_once(
    make_requeuer: MakeRequeuer, engine: Engine, redis_url: str, now: datetime
) -> None:
    """Two beats ticking at the same moment: every due delivery queued, none twice."""
    roomy = add_endpoint(engine, now, max_in_flight=1000)  # no quota holds any back
    due_times = [now - timedelta(milliseconds=n) for n in range(300)]
    due = set(add_deliveries(engine, due_times, roomy))
    lease: dict[str, Any] = {"lease_token": "dead", "lease_expires_at": now - timedelta(seconds=1)}
    lost = set(add_deliveries(engine, [now] * 10, attempt_count=1, **lease))
    # Small batches: many short passes each, interleaving as much as they can.
    schedulers = [make_requeuer(batch_size=20), make_requeuer(batch_size=20)]
    start = threading.Barrier(len(schedulers))
    ticks: list[Tick] = []
    errors: list[Exception] = []

    def run(scheduler: Requeuer) -> None:
        start.wait()
        try:
            ticks.append(scheduler.tick())
        except Exception as exc:  # a second worker_lost row for one attempt, or a deadlock
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(ticks) == 2
    assert sum(t.reaped for t in ticks) == len(lost)
    assert sum(t.queued for t in ticks) == len(due | lost)
    published = queued_delivery_ids(redis_url)
    assert sorted(published) == sorted(due | lost)  # each exactly once
    for delivery_id in lost:
        assert [a.error for a in attempt_rows(engine, delivery_id)] == ["worker_lost"]
