"""A statement run through the driver: SQLAlchemy's processing, its errors, a clean pool."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, create_engine, func, literal, select, text
from sqlalchemy.exc import DBAPIError

from webhooks.db import is_unavailable
from webhooks.delivery.driver import DriverStatement
from webhooks.models import UTCDateTime

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def one(engine: Engine) -> Iterator[Engine]:
    """An engine of one pooled connection: every statement gets the same one back."""
    single = create_engine(engine.url, pool_size=1, max_overflow=0)
    yield single
    single.dispose()


def test_binds_and_results_are_processed_as_sqlalchemy_would(one: Engine) -> None:
    """A UTCDateTime goes in from any zone and comes back in UTC; constants are bound."""
    statement = select(
        bindparam("p_at", type_=UTCDateTime()).label("at"), literal("pending").label("status")
    )
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    row = DriverStatement(one, statement).one_or_none({"p_at": at})
    assert row is not None
    assert row.at == at and row.at.tzinfo == UTC
    assert row.status == "pending"


def test_the_pool_gets_its_connection_back_out_of_autocommit(one: Engine) -> None:
    """After a statement in autocommit, a transaction on the same connection still rolls back."""
    DriverStatement(one, select(literal(1).label("n"))).one_or_none({})
    with one.connect() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE kept_out (n int)"))
        conn.rollback()
        assert conn.execute(text("SELECT to_regclass('pg_temp.kept_out')")).scalar() is None


def test_a_wrong_statement_is_not_mistaken_for_an_outage(one: Engine) -> None:
    """A driver error surfaces as SQLAlchemy's, and not as the database being away."""
    with pytest.raises(DBAPIError) as raised:
        DriverStatement(one, select((literal(1) / 0).label("x"))).one_or_none({})
    assert not is_unavailable(raised.value)
    assert DriverStatement(one, select(literal(1).label("n"))).one_or_none({}) is not None


def test_a_lost_connection_is_an_outage_and_is_not_lent_again(one: Engine, engine: Engine) -> None:
    """A backend killed under the pool: unavailable once, then a fresh connection answers."""
    pid_of = DriverStatement(one, select(func.pg_backend_pid().label("pid")))
    row = pid_of.one_or_none({})
    assert row is not None
    with engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": row.pid})
    with pytest.raises(DBAPIError) as raised:
        pid_of.one_or_none({})
    assert is_unavailable(raised.value)
    fresh = pid_of.one_or_none({})
    assert fresh is not None and fresh.pid != row.pid
