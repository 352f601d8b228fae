"""A worker killed with SIGKILL mid-flight loses nothing: its leases expire, the work is redone."""

import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from tests.support.api import create_endpoint, post_event
from tests.support.faults import assert_attempts_consistent, ids_received, wait_for_deliveries
from tests.support.processes import CeleryProcess, start_worker
from tests.support.receiver import Receiver, Reply
from webhooks.models import deliveries_table as deliveries

pytestmark = pytest.mark.slow  # on SQLite and PostgreSQL both

EVENTS = 200
CONCURRENCY = 16
RECEIVER_DELAY = 0.5


@pytest.fixture
def workers() -> Iterator[list[CeleryProcess]]:
    """Worker processes the test starts; stopped (or already dead) at the end."""
    started: list[CeleryProcess] = []
    yield started
    for process in started:
        process.kill()  # the test is over: no warm shutdown to wait for


def test_kill_9_mid_flight_loses_nothing(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    beat: CeleryProcess,
    workers: list[CeleryProcess],
) -> None:
    """Every delivery ends succeeded after a SIGKILL; only the attempts in flight are re-sent."""
    lease = float(env["WEBHOOKS_LEASE_SECONDS"])
    receiver.script("/hook", Reply(200, delay=RECEIVER_DELAY))
    create_endpoint(client, receiver.url("/hook"))
    event_ids = {post_event(client, data={"n": n})["id"] for n in range(EVENTS)}

    workers.append(start_worker(env, concurrency=CONCURRENCY))
    # Kill while every thread is busy and most of the burst is still to come.
    receiver.wait_for(2 * CONCURRENCY, "/hook", timeout=60)
    workers[0].kill()
    killed_at = time.time()
    before_kill = len(receiver.received("/hook"))
    assert before_kill < EVENTS, "the burst was over before the kill: nothing was tested"
    workers.append(start_worker(env, concurrency=CONCURRENCY))
    restarted = time.time() - killed_at

    wait_for_deliveries(engine, "succeeded", EVENTS, timeout=120)

    received = receiver.received("/hook")
    counts = ids_received(received)
    assert set(counts) == event_ids  # every event reached the receiver
    duplicates = {event_id for event_id, n in counts.items() if n > 1}
    by_delivery = assert_attempts_consistent(engine)
    lost = [a for rows in by_delivery.values() for a in rows if a.error == "worker_lost"]
    # Only attempts in flight at the kill can be sent twice: one per thread at most, each
    # recorded as a worker_lost attempt. Messages the dead worker had only reserved were
    # never claimed, so they were never sent.
    assert 1 <= len(lost) <= CONCURRENCY, lost
    assert len(duplicates) <= len(lost)
    assert max(counts.values()) <= 2

    # Messages that were only queued go out as soon as a worker is back, with no lease to wait.
    resumed = min(r.at - killed_at for r in received if r.at > killed_at)
    assert resumed < restarted + lease
    # A lost attempt is sent again only after its lease ran out and the scheduler reaped it.
    event_of = delivery_events(engine)
    resent = []
    for attempt in lost:
        event_id = event_of[attempt.delivery_id]
        arrivals = sorted(r.at for r in received if r.headers["webhook-id"] == event_id)
        if len(arrivals) > 1:
            lease_end = attempt.started_at.timestamp() + lease
            assert arrivals[1] >= lease_end - 0.05, (attempt, arrivals)
            resent.append(arrivals[1] - killed_at)
    resent.sort()
    # Reaped deliveries queue behind what is left of the burst, hence the slack.
    assert not resent or resent[-1] < lease + 30
    window = f"{resent[0]:.1f}..{resent[-1]:.1f}s" if resent else "never (none had gone out)"
    print(
        f"\n[kill -9] lease {lease:.0f}s; {before_kill} requests before the kill; new worker"
        f" ready after {restarted:.1f}s; deliveries resumed {resumed:.1f}s after the kill;"
        f" {len(lost)} attempts lost, {len(duplicates)} duplicates at the receiver (bound:"
        f" concurrency {CONCURRENCY}); lost attempts re-sent {window} after the kill"
    )


def delivery_events(engine: Engine) -> dict[str, str]:
    """The event of each delivery."""
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries.c.id, deliveries.c.event_id))
        return {row.id: row.event_id for row in rows}
