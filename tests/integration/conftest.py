"""The ledger under test, for test_ledger_claim.py and test_ledger_record.py."""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from tests.support.rows import KEYRING
from webhooks.delivery.ledger import Claim, Ledger, PostgresLedger, make_ledger
from webhooks.delivery.outcome import RetrySchedule, Rules
from webhooks.ids import new_id
from webhooks.times import utcnow

LEASE = timedelta(seconds=5)  # WEBHOOKS_LEASE_SECONDS in the `env` fixture
LedgerFactory = Callable[..., Ledger]

# A ledger test module's `pytestmark`: every test runs on SQLite, on PostgreSQL, and with the
# portable ledger on PostgreSQL, so that the two implementations are proven to agree.
ON_EVERY_LEDGER = pytest.mark.parametrize(
    ("database_url", "build_ledger"),
    [
        pytest.param("sqlite", make_ledger, id="sqlite"),
        pytest.param("postgresql", make_ledger, id="postgresql"),
        pytest.param("postgresql", Ledger, id="postgresql-portable"),
    ],
    indirect=["database_url"],
)


@pytest.fixture
def new_ledger(engine: Engine, build_ledger: LedgerFactory) -> LedgerFactory:
    """Build the ledger under test with a five-second lease and the given streak thresholds."""

    def new(failures: int = 10, after: timedelta = timedelta(days=5)) -> Ledger:
        rules = Rules(
            schedule=RetrySchedule((0.3, 0.3, 0.3)),
            max_countdown=timedelta(seconds=5),
            disable_after=after,
            disable_after_failures=failures,
        )
        ledger = build_ledger(engine, lease=LEASE, rules=rules, keyring=KEYRING)
        # Otherwise the "postgresql" runs would silently test the portable ledger twice.
        on_postgres = engine.dialect.name == "postgresql" and build_ledger is make_ledger
        assert isinstance(ledger, PostgresLedger) is on_postgres
        return ledger

    return new


@pytest.fixture
def ledger(new_ledger: LedgerFactory) -> Ledger:
    """The ledger under test, with the default failure policy."""
    return new_ledger()


@pytest.fixture
def now() -> datetime:
    """The time every claim and record of a test is made at, unless it says otherwise."""
    return utcnow()


def claimed(ledger: Ledger, delivery_id: str, now: datetime) -> Claim:
    """Claim a delivery that must be claimable."""
    claim = ledger.claim(delivery_id, new_id("tok"), now)
    assert claim is not None
    return claim
