"""A retry after a timeout, with deliveries held behind it, waits parked in SQL; others ride a
countdown."""

from datetime import UTC, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support import wait_until
from tests.support.api import attempts_of, create_endpoint, post_event, row, wait_for_delivery
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """One retry, 3 s after a failure: long enough to look at the row before it is due."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "3"}


def first_recorded(client: FlaskClient, engine: Engine, delivery_ids: list[str]) -> dict[str, Any]:
    """The row of the first of these deliveries to have an attempt recorded, as it is then."""
    recorded = wait_until(
        lambda: next((d for d in delivery_ids if attempts_of(client, d)), None), interval=0.02
    )
    return row(engine, "deliveries", recorded)


def test_a_retry_behind_a_held_line_is_parked_in_sql(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """Two attempts time out while deliveries wait behind them: their retries are parked (no
    countdown message), the scheduler sends them when due, and nothing is lost."""
    receiver.script("/hangs", Reply(200, delay=30), Reply(200, delay=30), Reply(200))
    create_endpoint(client, receiver.url("/hangs"))
    # A new endpoint has one slot: one goes, the two others are held behind it.
    delivery_ids = [post_event(client)["deliveries"][0]["id"] for _ in range(3)]

    parked = first_recorded(client, engine, delivery_ids)
    assert (parked["status"], parked["held"], parked["queued_until"]) == ("pending", False, None)
    due = parked["next_attempt_at"].replace(tzinfo=UTC)
    assert due > datetime.now(UTC)

    done = [wait_for_delivery(client, d, "succeeded", timeout=30) for d in delivery_ids]
    assert sorted(d["attempt_count"] for d in done) == [1, 2, 2]
    retried = attempts_of(client, parked["id"])[1]
    assert datetime.fromisoformat(retried["started_at"]) >= due


def test_a_retry_after_an_answer_rides_a_countdown(
    client: FlaskClient, engine: Engine, receiver: Receiver, worker: CeleryProcess
) -> None:
    """A 500, even with a delivery held behind it: no scheduler runs, and the retries come
    back by Celery's countdown alone."""
    receiver.script("/flaky", Reply(500), Reply(500), Reply(200))
    create_endpoint(client, receiver.url("/flaky"))
    delivery_ids = [post_event(client)["deliveries"][0]["id"] for _ in range(2)]

    queued = first_recorded(client, engine, delivery_ids)
    assert queued["status"] == "pending"
    assert queued["queued_until"] == queued["next_attempt_at"]

    done = [wait_for_delivery(client, d, "succeeded") for d in delivery_ids]
    assert [d["attempt_count"] for d in done] == [2, 2]
