"""What a ledger claim takes, on SQLite and PostgreSQL: a due, unheld delivery, leased once.

On PostgreSQL both implementations run, the one-statement `PostgresLedger` that `make_ledger`
picks and the portable `Ledger`, so that the two are proven to agree.
"""

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.integration.conftest import LEASE, ON_EVERY_LEDGER, claimed
from tests.support.rows import (
    SECRET,
    URL,
    add_deliveries,
    add_delivery,
    add_endpoint,
    attempt_rows,
    row,
)
from webhooks.delivery.ledger import Claim, Ledger
from webhooks.ids import new_id
from webhooks.models import CANCELLED, FAILED, PENDING, SUCCEEDED
from webhooks.models import deliveries_table as deliveries

OLD_SECRET = "whsec_" + "B" * 32

pytestmark = ON_EVERY_LEDGER


def test_claim_holds_the_delivery_and_returns_what_to_send(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """A claim leases the delivery, counts the attempt and carries the exact bytes and secrets."""
    payload = b'{"amount": 1.10,  "name": "Zo\xc3\xab"}\n'  # bytes a JSON round trip would change
    rotation = {"previous_secret": OLD_SECRET, "previous_secret_expires_at": now + LEASE}
    endpoint_id = add_endpoint(engine, now, failure_count=4, **rotation)
    delivery_id = add_delivery(engine, now, endpoint_id, payload, attempt_count=3, run_start=2)

    claim = ledger.claim(delivery_id, "token-1", now)

    assert claim is not None
    assert (claim.delivery_id, claim.token, claim.endpoint_id) == (
        delivery_id,
        "token-1",
        endpoint_id,
    )
    assert claim.event_id == row(engine, deliveries, delivery_id).event_id
    assert (claim.number, claim.run_attempt) == (4, 2)  # the 2nd attempt of a manual retry's run
    assert claim.url == URL
    assert claim.secrets == (SECRET, OLD_SECRET)  # rotation: both sign while the old one lasts
    assert claim.payload == payload
    held = row(engine, deliveries, delivery_id)
    assert (held.status, held.attempt_count, held.lease_token) == (PENDING, 4, "token-1")
    assert held.lease_expires_at == now + LEASE


@pytest.mark.parametrize("expires_in", [0, -60], ids=["expiring-now", "expired"])
def test_previous_secret_stops_signing_when_it_expires(
    ledger: Ledger, engine: Engine, now: datetime, expires_in: int
) -> None:
    """Once the rotation overlap is over, only the current secret signs."""
    expires_at = now + timedelta(seconds=expires_in)
    endpoint_id = add_endpoint(
        engine, now, previous_secret=OLD_SECRET, previous_secret_expires_at=expires_at
    )
    claim = claimed(ledger, add_delivery(engine, now, endpoint_id), now)
    assert claim.secrets == (SECRET,)


def test_a_held_delivery_is_not_claimed_again(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """A second copy of the task, even a lease later, finds the delivery held and sends nothing."""
    delivery_id = add_delivery(engine, now)
    first = claimed(ledger, delivery_id, now)

    assert ledger.claim(delivery_id, "token-2", now) is None
    # Only the scheduler takes a lease back from a dead worker; a late task never does.
    assert ledger.claim(delivery_id, "token-3", now + 2 * LEASE) is None
    held = row(engine, deliveries, delivery_id)
    assert (held.lease_token, held.attempt_count) == (first.token, 1)


def test_racing_copies_of_a_task_claim_each_delivery_once(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """Two workers claiming the same deliveries at the same moment: each is taken exactly once."""
    ids = add_deliveries(engine, [now] * 20)  # to one endpoint
    start = threading.Barrier(2)
    taken: list[list[Claim]] = [[], []]

    def run(mine: list[Claim]) -> None:
        start.wait()
        mine.extend(c for d in ids if (c := ledger.claim(d, new_id("tok"), now)) is not None)

    threads = [threading.Thread(target=run, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(c.delivery_id for c in taken[0] + taken[1]) == sorted(ids)
    assert {row(engine, deliveries, d).attempt_count for d in ids} == {1}


UNCLAIMABLE: dict[str, Callable[[datetime], dict[str, Any]]] = {
    "not-due": lambda now: {"next_attempt_at": now + timedelta(seconds=1.5)},
    "succeeded": lambda now: {"status": SUCCEEDED, "next_attempt_at": None},
    "failed": lambda now: {"status": FAILED, "next_attempt_at": None},
    "cancelled": lambda now: {"status": CANCELLED, "next_attempt_at": None},
    "leased": lambda now: {"lease_token": "other", "lease_expires_at": now + LEASE},
}


@pytest.mark.parametrize("state", UNCLAIMABLE)
def test_only_a_pending_due_unheld_delivery_is_claimed(
    ledger: Ledger, engine: Engine, now: datetime, state: str
) -> None:
    """A delivery not yet due, finished, or held by another attempt is left exactly as it was."""
    delivery_id = add_delivery(engine, now, attempt_count=2, **UNCLAIMABLE[state](now))
    before = row(engine, deliveries, delivery_id)

    assert ledger.claim(delivery_id, "token-1", now) is None
    assert row(engine, deliveries, delivery_id) == before


def test_a_delivery_due_within_the_clock_skew_is_claimed(
    ledger: Ledger, engine: Engine, now: datetime
) -> None:
    """A countdown task that runs up to a second early (clocks differ) still sends."""
    delivery_id = add_delivery(engine, now + timedelta(seconds=0.5))
    assert claimed(ledger, delivery_id, now).number == 1


@pytest.mark.parametrize("endpoint_state", ["disabled", "deleted"])
def test_a_delivery_to_an_unsendable_endpoint_is_cancelled_at_claim(
    ledger: Ledger, engine: Engine, now: datetime, endpoint_state: str
) -> None:
    """Queued before its endpoint was disabled or deleted: cancelled, its attempt uncounted."""
    columns = {"enabled": False} if endpoint_state == "disabled" else {"deleted_at": now}
    endpoint_id = add_endpoint(engine, now, **columns)
    delivery_id = add_delivery(engine, now, endpoint_id, attempt_count=2)

    assert ledger.claim(delivery_id, "token-1", now) is None
    after = row(engine, deliveries, delivery_id)
    assert (after.status, after.attempt_count, after.next_attempt_at) == (CANCELLED, 2, None)
    assert (after.lease_token, after.lease_expires_at) == (None, None)
    assert attempt_rows(engine, delivery_id) == []
