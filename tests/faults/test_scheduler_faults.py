"""Two scheduler clocks at once (a second beat by mistake) never send a delivery twice."""

from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import create_endpoint, post_event
from tests.support.faults import assert_sent_once_per_attempt, attempt_rows, wait_for_deliveries
from tests.support.processes import CeleryProcess, start_beat, start_worker
from tests.support.receiver import Receiver

pytestmark = pytest.mark.slow

EVENTS = 60


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Every retry waits longer than a countdown may: the scheduler sends all of them.

    3 s, so that every first attempt (the receiver's 60 scripted 500s) is made before the
    first retry, even on a busy machine. DEBUG: each beat's "Sending due task" lines, which
    show that both ran, are routine below it.
    """
    return {
        **env,
        "WEBHOOKS_RETRY_SCHEDULE": "3",
        "WEBHOOKS_MAX_COUNTDOWN_SECONDS": "1",
        "WEBHOOKS_LOG_LEVEL": "DEBUG",
    }


def test_two_beats_do_not_double_send(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    beat: CeleryProcess,
    tmp_path: Path,
) -> None:
    """Two beats run the scheduler twice as often; each attempt still reaches the receiver once."""
    receiver.script("/hook", *[500] * EVENTS, 200)
    create_endpoint(client, receiver.url("/hook"))
    event_ids = {post_event(client, data={"n": n})["id"] for n in range(EVENTS)}
    second = start_beat(env, str(tmp_path / "second-beat-schedule"))
    try:
        worker = start_worker(env)
        try:
            wait_for_deliveries(engine, "succeeded", EVENTS, timeout=60)
        finally:
            worker.kill()
    finally:
        second.kill()

    # Exactly as many requests as audited attempts, per event: nobody sent one twice.
    counts = assert_sent_once_per_attempt(engine, receiver.received("/hook"), event_ids)
    assert sum(counts.values()) == 2 * EVENTS  # the 60 failures, then 60 successes
    assert not [a for a in attempt_rows(engine) if a.error == "worker_lost"]
    for clock in (beat, second):
        assert "Sending due task scheduler" in clock.output()
