"""A receiver that is down, and long waits: retried on schedule, parked in SQL, never lost."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support import wait_until
from tests.support.api import attempts_of, create_endpoint, post_event, row
from tests.support.faults import TcpGate, attempt_rows
from tests.support.processes import CeleryProcess, start_beat
from tests.support.rabbitmq import RabbitVhost
from tests.support.receiver import Receiver

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

DOWN_FOR = 3  # attempts refused before the receiver comes up
# Steps long enough that the gate surely opens between attempt N and N+1.
STEPS = "1.5,1.5,1.5,1.5"


@pytest.fixture
def rabbitmq_vhost() -> Iterator[RabbitVhost]:
    """A vhost of this test's own: a check below counts every message in it, and a message
    an earlier test's worker still held, or put back as it died, must not count."""
    vhost = RabbitVhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture
def env(env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    """The shared environment with the settings a test names (indirect parametrisation)."""
    return {**env, **getattr(request, "param", {})}


@pytest.fixture
def gate(receiver: Receiver) -> Iterator[TcpGate]:
    """A closed door in front of the receiver: connections are refused until it opens."""
    door = TcpGate(receiver.port)
    yield door
    door.close()


@pytest.mark.parametrize(
    "env", [{"WEBHOOKS_RETRY_SCHEDULE": STEPS}], indirect=True, ids=["steps-1.5s"]
)
def test_receiver_down_for_n_steps_then_up(
    client: FlaskClient, engine: Engine, receiver: Receiver, gate: TcpGate, worker: CeleryProcess
) -> None:
    """Refused for the first N attempts, then up: delivered on attempt N+1, the audit says why."""
    create_endpoint(client, gate.url("/hook"))
    (delivery,) = post_event(client)["deliveries"]

    wait_until(
        lambda: len(attempt_rows(engine)) >= DOWN_FOR,
        message=f"fewer than {DOWN_FOR} attempts were made",
    )
    gate.open()
    wait_until(
        lambda: row(engine, "deliveries", delivery["id"])["status"] == "succeeded", timeout=30
    )

    attempts = attempts_of(client, delivery["id"])
    assert [a["number"] for a in attempts] == list(range(1, DOWN_FOR + 2))
    assert [a["error"] for a in attempts] == ["connection_error"] * DOWN_FOR + [None]
    assert [a["status_code"] for a in attempts] == [None] * DOWN_FOR + [200]
    assert len(receiver.received("/hook")) == 1


@pytest.mark.parametrize(
    "env",
    # A 5 s step: a countdown wrongly held for it would still be held when the check below
    # gives up (4 s: rabbitmqctl takes a second per look on a busy machine).
    [{"WEBHOOKS_RETRY_SCHEDULE": "0.3,5", "WEBHOOKS_MAX_COUNTDOWN_SECONDS": "1"}],
    indirect=True,
    ids=["step-5s-over-countdown-1s"],
)
def test_long_step_is_parked_in_sql_and_sent_by_the_scheduler(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    worker: CeleryProcess,
    broker_messages: Callable[[], int],
    tmp_path: Path,
) -> None:
    """A wait longer than the countdown limit is not held by the worker: the scheduler sends it."""
    receiver.script("/hook", 500, 500, 200)
    create_endpoint(client, receiver.url("/hook"))
    (delivery,) = post_event(client)["deliveries"]

    # The first retry (0.3 s) rides a countdown; the second (5 s) is parked.
    parked = wait_until(
        lambda: (
            (found := row(engine, "deliveries", delivery["id"]))["attempt_count"] == 2
            and found["lease_expires_at"] is None
            and found
        ),
        message="the second attempt never ended",
    )
    assert parked["status"] == "pending"
    assert parked["queued_until"] is None  # nobody holds it: it is the scheduler's to send
    assert parked["next_attempt_at"] > datetime.now(UTC)
    # Nothing on the broker, and no countdown task reserved by the worker either (the
    # message of the second attempt is acknowledged a moment after it is recorded).
    wait_until(
        lambda: broker_messages() == 0,
        timeout=4,
        message="a message for the parked delivery is on the broker or in the worker",
    )

    # Well past its due time, without a scheduler nothing sends it.
    due = parked["next_attempt_at"] + timedelta(seconds=1)
    wait_until(lambda: datetime.now(UTC) > due, timeout=10)
    assert len(receiver.received("/hook")) == 2
    beat = start_beat(env, str(tmp_path / "celerybeat-schedule"))
    try:
        receiver.wait_for(3, "/hook")
        wait_until(lambda: row(engine, "deliveries", delivery["id"])["status"] == "succeeded")
    finally:
        beat.kill()
    attempts = attempts_of(client, delivery["id"])
    assert [(a["number"], a["status_code"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
