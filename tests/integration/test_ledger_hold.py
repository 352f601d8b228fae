"""A claim the throttle holds back, on SQLite and PostgreSQL: undone without an attempt, and
the endpoint's held line handed on in order."""

from datetime import datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import Engine, select

from tests.integration.conftest import ON_EVERY_LEDGER, claimed
from tests.support.rows import add_deliveries, add_delivery, add_endpoint, attempt_rows, row
from webhooks.delivery import held
from webhooks.delivery.ledger import Ledger
from webhooks.delivery.outcome import Held
from webhooks.delivery.queue import Dispatcher
from webhooks.delivery.throttle import Throttle
from webhooks.models import deliveries_table as deliveries

pytestmark = ON_EVERY_LEDGER


def unhold(engine: Engine, endpoint_id: str, count: int, now: datetime) -> tuple[list[str], bool]:
    """Hand `count` free slots to the endpoint's held line (one statement on PostgreSQL)."""
    # Taking the deliveries needs neither the broker nor the throttle.
    lines = held.Lines(engine, cast(Dispatcher, None), cast(Throttle, None))
    return lines.unhold_next(endpoint_id, count, now)


def test_a_held_claim_leaves_no_attempt_and_waits_where_it_is_told(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """On a countdown: queued until its instant; in SQL: held, not queued, limits returned."""
    endpoint_id = add_endpoint(engine, now, rate_limit=3, max_in_flight=7)
    first, second = add_deliveries(engine, [now, now], endpoint_id, attempt_count=2)
    later = now + timedelta(seconds=2)

    claim = claimed(ledger, first, now)
    assert (claim.rate_limit, claim.max_in_flight) == (3, 7)
    ledger.hold(claim, Held(later, in_sql=False, reserved=True))
    ledger.hold(claimed(ledger, second, now), Held(later, in_sql=True, reserved=False))

    for delivery_id, in_sql, queued_until in [(first, False, later), (second, True, None)]:
        after = row(engine, deliveries, delivery_id)
        assert (after.attempt_count, after.lease_token, after.lease_expires_at) == (2, None, None)
        assert (after.held, after.queued_until, after.next_attempt_at) == (
            in_sql,
            queued_until,
            later,
        )
        assert attempt_rows(engine, delivery_id) == []


def test_unhold_takes_the_oldest_due_and_says_what_is_left(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """Free slots go to the endpoint's oldest due held deliveries; a later one stays held."""
    endpoint_id = add_endpoint(engine, now)
    old, new = add_deliveries(engine, [now - timedelta(seconds=2), now], endpoint_id, held=True)
    later = add_delivery(engine, now + timedelta(seconds=5), endpoint_id, held=True)

    assert unhold(engine, endpoint_id, 1, now) == ([old], True)
    assert unhold(engine, endpoint_id, 5, now) == ([new], True)
    assert unhold(engine, endpoint_id, 5, now) == ([], True)  # `later` is not due yet
    after = row(engine, deliveries, old)
    assert (after.held, after.queued_until) == (False, now)
    assert row(engine, deliveries, later).held

    unhold(engine, endpoint_id, 1, now + timedelta(seconds=5))
    assert unhold(engine, endpoint_id, 1, now + timedelta(seconds=5)) == ([], False)


def test_nothing_held_elsewhere_is_taken(ledger: Ledger, engine: Engine, now: datetime) -> None:
    """Another endpoint's held line, and unheld deliveries, are not this endpoint's."""
    endpoint_id = add_endpoint(engine, now)
    add_delivery(engine, now, held=True)  # another endpoint
    add_delivery(engine, now, endpoint_id)  # queued normally

    assert unhold(engine, endpoint_id, 5, now) == ([], False)


def test_slots_go_to_the_line_in_order(ledger: Ledger, engine: Engine, now: datetime) -> None:
    """Several free slots at once take the oldest due deliveries, returned oldest first."""
    endpoint_id = add_endpoint(engine, now)
    times = [now - timedelta(seconds=s) for s in (1, 3, 2, 4)]
    ids = add_deliveries(engine, times, endpoint_id, held=True)
    by_age = [ids[3], ids[1], ids[2], ids[0]]

    assert unhold(engine, endpoint_id, 3, now) == (by_age[:3], True)
    assert unhold(engine, endpoint_id, 3, now) == (by_age[3:], True)


def test_a_delivery_another_worker_is_taking_is_skipped(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """Two workers freeing slots at once never take the same held delivery."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite runs one writer at a time: nothing to skip")
    endpoint_id = add_endpoint(engine, now)
    first, second = add_deliveries(
        engine, [now - timedelta(seconds=1), now], endpoint_id, held=True
    )
    with engine.begin() as other:
        taking = other.execute(
            select(deliveries.c.id).where(deliveries.c.id == first).with_for_update()
        ).scalar_one()
        assert unhold(engine, endpoint_id, 2, now) == ([second], True)
    assert taking == first
