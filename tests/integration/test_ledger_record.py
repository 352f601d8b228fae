"""What a ledger record writes, on SQLite and PostgreSQL: the delivery, its audit row, the streak.

On PostgreSQL both implementations run, the one-statement `PostgresLedger` that `make_ledger`
picks and the portable `Ledger`, so that the two are proven to agree.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from tests.integration.conftest import LEASE, ON_EVERY_LEDGER, claimed
from tests.support.rows import add_deliveries, add_delivery, add_endpoint, attempt_rows, row
from webhooks.config import Settings
from webhooks.delivery.ledger import Ledger
from webhooks.delivery.outcome import AttemptRecord
from webhooks.delivery.requeue import Requeuer
from webhooks.models import CANCELLED, FAILED, PENDING, SUCCEEDED
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints
from worker.dispatch import CeleryDispatcher

pytestmark = ON_EVERY_LEDGER


def success(started: datetime) -> AttemptRecord:
    """A 200 from the receiver."""
    return AttemptRecord(started, 12.5, 200, "ok", None, "success", SUCCEEDED, None, False)


def failure(
    started: datetime,
    status: str = PENDING,
    next_attempt_at: datetime | None = None,
    *,
    queued: bool = False,
    code: int | None = None,
    error: str | None = "timeout",
) -> AttemptRecord:
    """A failed attempt: retried at `next_attempt_at` if the status is pending."""
    body = None if code is None else "nope"
    return AttemptRecord(
        started, 250.0, code, body, error, "failure", status, next_attempt_at, queued
    )


def test_a_success_is_recorded_with_its_attempt(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """A 2xx finishes the delivery and leaves a complete audit row."""
    endpoint_id = add_endpoint(engine, now)
    delivery_id = add_delivery(engine, now, endpoint_id, queued_until=now)
    claim = claimed(ledger, delivery_id, now)
    started = now + timedelta(milliseconds=3)

    assert ledger.record(claim, success(started), now + timedelta(seconds=1)) == SUCCEEDED
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.last_status_code, after.attempt_count) == (SUCCEEDED, 200, 1)
    assert (after.lease_token, after.lease_expires_at) == (None, None)
    assert (after.next_attempt_at, after.queued_until) == (None, None)
    assert after.updated_at == now + timedelta(seconds=1)
    [attempt] = attempt_rows(engine, delivery_id)
    assert attempt.id.startswith("att_")
    assert (attempt.delivery_id, attempt.endpoint_id, attempt.number) == (
        delivery_id,
        endpoint_id,
        1,
    )
    assert (attempt.started_at, attempt.duration_ms) == (started, 12.5)
    assert (attempt.status_code, attempt.response_body) == (200, "ok")
    assert (attempt.error, attempt.outcome) == (None, "success")


@pytest.mark.parametrize("queued", [True, False], ids=["countdown", "parked"])
def test_a_retry_is_due_again_later(
    ledger: Ledger, engine: Engine, now: datetime, queued: bool
) -> None:
    """A retry waits for its countdown task, or is parked (no queued mark) for the scheduler."""
    delivery_id = add_delivery(engine, now)
    later = now + timedelta(seconds=30)
    claim = claimed(ledger, delivery_id, now)

    assert (
        ledger.record(claim, failure(now, PENDING, later, queued=queued, code=503), now) == PENDING
    )
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.next_attempt_at, after.last_status_code) == (PENDING, later, 503)
    assert after.queued_until == (later if queued else None)
    assert (after.lease_token, after.lease_expires_at) == (None, None)
    [attempt] = attempt_rows(engine, delivery_id)
    assert (attempt.status_code, attempt.response_body, attempt.error) == (503, "nope", "timeout")
    assert attempt.outcome == "failure"
    # Not before its time, then as the next attempt of the run.
    assert ledger.claim(delivery_id, "early", now) is None
    assert (claimed(ledger, delivery_id, later).number, attempt.number) == (2, 1)


def test_a_final_failure_is_recorded(ledger: Ledger, engine: Engine, now: datetime) -> None:
    """A blocked address fails the delivery at once, audited, and counts against the endpoint."""
    endpoint_id = add_endpoint(engine, now)
    delivery_id = add_delivery(engine, now, endpoint_id)
    claim = claimed(ledger, delivery_id, now)

    assert ledger.record(claim, failure(now, FAILED, error="blocked_address"), now) == FAILED
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.next_attempt_at, after.lease_token) == (FAILED, None, None)
    [attempt] = attempt_rows(engine, delivery_id)
    assert (attempt.error, attempt.outcome) == ("blocked_address", "failure")
    assert row(engine, endpoints, endpoint_id).failure_count == 1


@pytest.mark.parametrize(("verdict", "expected"), [("retry", CANCELLED), ("success", SUCCEEDED)])
def test_a_delivery_cancelled_in_flight_is_not_revived(
    ledger: Ledger, engine: Engine, now: datetime, verdict: str, expected: str
) -> None:
    """Cancelled while its attempt ran: a retry leaves it cancelled; a success is the truth."""
    endpoint_id = add_endpoint(engine, now)
    delivery_id = add_delivery(engine, now, endpoint_id)
    claim = claimed(ledger, delivery_id, now)
    with engine.begin() as conn:  # the endpoint is deleted meanwhile, as the API does it
        conn.execute(update(endpoints).where(endpoints.c.id == endpoint_id).values(deleted_at=now))
        cancel = update(deliveries).where(deliveries.c.id == delivery_id)
        conn.execute(cancel.values(status=CANCELLED, next_attempt_at=None))
    attempt = failure(now, PENDING, now, queued=True) if verdict == "retry" else success(now)

    assert ledger.record(claim, attempt, now) == expected
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.lease_token, after.lease_expires_at) == (expected, None, None)
    assert (after.next_attempt_at, after.queued_until) == (None, None)
    assert [a.outcome for a in attempt_rows(engine, delivery_id)] == [attempt.outcome]


@pytest.mark.parametrize("verdict", ["success", "retry"])
def test_a_lost_lease_fills_the_reapers_placeholder(
    ledger: Ledger, engine: Engine, settings: Settings, now: datetime, verdict: str
) -> None:
    """An attempt that outlived its lease: its real outcome replaces the worker_lost row."""
    delivery_id = add_delivery(engine, now)
    claim = claimed(ledger, delivery_id, now)
    reaped_at = now + LEASE + timedelta(seconds=1)
    dispatcher = CeleryDispatcher.from_settings(settings)
    reaper = Requeuer(settings, engine, dispatcher, clock=lambda: reaped_at)
    assert reaper.reap_expired_leases() == 1
    retaken = claimed(ledger, delivery_id, reaped_at)  # another worker sends it again
    attempt = success(now) if verdict == "success" else failure(now, PENDING, now, code=500)

    assert ledger.record(claim, attempt, reaped_at) is None
    [lost] = attempt_rows(engine, delivery_id)  # filled in place, not a second row
    assert (lost.number, lost.started_at, lost.outcome) == (1, now, attempt.outcome)
    assert (lost.status_code, lost.error) == (attempt.status_code, attempt.error)
    assert lost.duration_ms == attempt.duration_ms
    # The late record leaves the delivery to the attempt now under way.
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.lease_token, after.attempt_count) == (PENDING, retaken.token, 2)


@pytest.mark.parametrize(
    "minutes",
    [(0, 1, 2, 60), (0, 120, 121)],
    ids=["enough-failures-then-old-enough", "old-enough-then-enough-failures"],
)
def test_a_failure_streak_disables_the_endpoint_once_long_and_old_enough(
    new_ledger: Callable[..., Ledger], engine: Engine, now: datetime, minutes: tuple[int, ...]
) -> None:
    """Three failures and an hour: neither alone disables the endpoint, both together do."""
    ledger = new_ledger(failures=3, after=timedelta(hours=1))
    endpoint_id = add_endpoint(engine, now)
    delivery_id = add_delivery(engine, now, endpoint_id)
    waiting_id = add_delivery(engine, now + timedelta(days=1), endpoint_id)
    sent_id = add_delivery(engine, now, endpoint_id, status=SUCCEEDED, next_attempt_at=None)

    for count, minute in enumerate(minutes, start=1):
        at = now + timedelta(minutes=minute)
        last = count == len(minutes)
        retry = failure(at, PENDING, at, code=500)
        expected = CANCELLED if last else PENDING
        assert ledger.record(claimed(ledger, delivery_id, at), retry, at) == expected
        endpoint = row(engine, endpoints, endpoint_id)
        # The streak dates from its first failure.
        assert (endpoint.failure_count, endpoint.failing_since) == (count, now)
        assert (endpoint.enabled, endpoint.disabled_reason) == (
            (False, "failing") if last else (True, None)
        )
    # Its pending deliveries go with it; a finished one keeps its status.
    for cancelled_id in (delivery_id, waiting_id):
        after = row(engine, deliveries, cancelled_id)
        assert (after.status, after.next_attempt_at, after.queued_until) == (CANCELLED, None, None)
    assert row(engine, deliveries, sent_id).status == SUCCEEDED
    assert len(attempt_rows(engine, delivery_id)) == len(minutes)


def test_a_success_resets_the_failure_streak(ledger: Ledger, engine: Engine, now: datetime) -> None:
    """The first success after failures clears the endpoint's streak."""
    endpoint_id = add_endpoint(engine, now, failure_count=5, failing_since=now - timedelta(days=1))
    claim = claimed(ledger, add_delivery(engine, now, endpoint_id), now)

    assert ledger.record(claim, success(now), now) == SUCCEEDED
    endpoint = row(engine, endpoints, endpoint_id)
    assert (endpoint.failure_count, endpoint.failing_since, endpoint.enabled) == (0, None, True)


def test_a_success_ends_a_streak_that_began_after_its_claim(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """Failures recorded while this attempt was in flight are still cleared by its success."""
    endpoint_id = add_endpoint(engine, now)
    claim = claimed(ledger, add_delivery(engine, now, endpoint_id), now)
    with engine.begin() as conn:  # another attempt to the endpoint failed meanwhile
        conn.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id)
            .values(failure_count=2, failing_since=now)
        )

    assert ledger.record(claim, success(now), now) == SUCCEEDED
    endpoint = row(engine, endpoints, endpoint_id)
    assert (endpoint.failure_count, endpoint.failing_since) == (0, None)


def test_gone_disables_the_endpoint_at_once(ledger: Ledger, engine: Engine, now: datetime) -> None:
    """A 410 fails the delivery, disables its endpoint as "gone" and cancels what was pending."""
    endpoint_id = add_endpoint(engine, now)
    delivery_id, other_id = add_deliveries(engine, [now, now], endpoint_id)
    claim = claimed(ledger, delivery_id, now)
    gone = failure(now, FAILED, code=410, error=None)  # a 410 disables: streak "gone"

    assert ledger.record(claim, gone, now) == FAILED
    endpoint = row(engine, endpoints, endpoint_id)
    assert (endpoint.enabled, endpoint.disabled_reason) == (False, "gone")
    assert row(engine, deliveries, delivery_id).status == FAILED
    assert row(engine, deliveries, other_id).status == CANCELLED
    [attempt] = attempt_rows(engine, delivery_id)
    assert (attempt.status_code, attempt.outcome) == (410, "failure")
