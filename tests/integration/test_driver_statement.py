"""A statement run through the driver: SQLAlchemy's processing, its errors, a clean pool."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, create_engine, func, literal, select, text, union_all
from sqlalchemy.exc import DBAPIError

from webhooks.db import is_unavailable
from webhooks.driver import DriverStatement, lent
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


def test_statements_on_a_lent_connection_share_it_and_write_at_once(
    one: Engine, engine: Engine
) -> None:
    """Rows of `all`, a write by `execute`: one backend, and the write seen by others at once."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE lent_writes (n int)"))
    pid_of = DriverStatement(one, select(func.pg_backend_pid().label("pid")))
    numbers = DriverStatement(
        one, union_all(select(literal(1).label("n")), select(literal(2).label("n")))
    )
    write = DriverStatement(one, text("INSERT INTO lent_writes VALUES (:n)"))
    try:
        with lent(one) as pooled:
            first = pid_of.one_or_none({}, on=pooled)
            assert [row.n for row in numbers.all({}, on=pooled)] == [1, 2]
            write.execute({"n": 7}, on=pooled)
            with engine.connect() as other:  # committed: no transaction was left open
                assert other.execute(text("SELECT n FROM lent_writes")).scalars().all() == [7]
            assert pid_of.one_or_none({}, on=pooled) == first
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE lent_writes"))


def test_after_a_lost_connection_the_next_statement_finds_a_live_one(engine: Engine) -> None:
    """The database restarted under a pool of three: one failure, and the retry succeeds."""
    three = create_engine(engine.url, pool_size=3, max_overflow=0)
    pid_of = DriverStatement(three, select(func.pg_backend_pid().label("pid")))
    try:
        with lent(three) as a, lent(three) as b, lent(three) as c:
            rows = [pid_of.one_or_none({}, on=pooled) for pooled in (a, b, c)]
        pids = [row.pid for row in rows if row is not None]
        assert len(set(pids)) == 3
        with engine.connect() as other:
            for pid in pids:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError) as raised:
            pid_of.one_or_none({})
        assert is_unavailable(raised.value)
        # Not another of the dead three: the whole pool was renewed, as SQLAlchemy does.
        fresh = pid_of.one_or_none({})
        assert fresh is not None and fresh.pid not in pids
    finally:
        three.dispose()
