"""Retention deletes exactly what finished long ago, with its attempts, and nothing pending."""

from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from tests.support.api import count
from tests.support.rows import add_deliveries, add_delivery, add_endpoint, attempt_rows
from webhooks.config import Settings
from webhooks.ids import new_id
from webhooks.models import CANCELLED, FAILED, PENDING, SUCCEEDED
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.models import events_table as events
from webhooks.retention import Purged, cutoff, purge
from webhooks.retention import count as count_old
from webhooks.times import utcnow
from webhooks.tools.cli import main

DAY = timedelta(days=1)


def finished(engine: Engine, at: datetime, status: str, endpoint_id: str, tries: int = 2) -> str:
    """A delivery that finished at `at`, with `tries` attempts."""
    delivery_id = add_delivery(engine, at, endpoint_id, status=status, updated_at=at)
    if not tries:
        return delivery_id
    with engine.begin() as conn:
        conn.execute(
            attempts.insert(),
            [
                {
                    "id": new_id("att"),
                    "delivery_id": delivery_id,
                    "endpoint_id": endpoint_id,
                    "number": number,
                    "started_at": at,
                    "outcome": "failure",
                }
                for number in range(1, tries + 1)
            ],
        )
    return delivery_id


def ids(engine: Engine, table: str) -> set[str]:
    """Every id left in a table."""
    chosen = {"events": events, "deliveries": deliveries, "attempts": attempts}[table]
    with engine.connect() as conn:
        return set(conn.execute(select(chosen.c.id)).scalars())


def event_of(engine: Engine, delivery_id: str) -> str:
    with engine.connect() as conn:
        found: str = conn.execute(
            select(deliveries.c.event_id).where(deliveries.c.id == delivery_id)
        ).scalar_one()
    return found


@pytest.fixture
def old_and_new(engine: Engine) -> dict[str, str]:
    """Rows on both sides of a cut-off ten days ago, named by what should happen to them."""
    now = utcnow()
    old, recent = now - 40 * DAY, now - DAY
    endpoint = add_endpoint(engine, old)
    rows = {
        "old succeeded": finished(engine, old, SUCCEEDED, endpoint),
        "old failed": finished(engine, old - DAY, FAILED, endpoint, tries=3),
        "old cancelled": finished(engine, old, CANCELLED, endpoint, tries=0),
        "recent succeeded": finished(engine, recent, SUCCEEDED, endpoint),
        "old pending": add_delivery(engine, old, endpoint, updated_at=old),
        # Cancelled while its attempt was in flight: the attempt is still to be recorded.
        "old in flight": add_delivery(
            engine, old, endpoint, status=CANCELLED, lease_expires_at=now + DAY, updated_at=old
        ),
    }
    # One old event with two deliveries: one finished long ago, one still pending.
    shared = finished(engine, old, SUCCEEDED, endpoint)
    other_endpoint, shared_event = add_endpoint(engine, old), event_of(engine, shared)
    with engine.begin() as conn:
        conn.execute(
            deliveries.insert().values(
                id=new_id("dlv"), tenant="acme", event_id=shared_event, endpoint_id=other_endpoint,
                status=PENDING, next_attempt_at=now, created_at=old, updated_at=old,
            )
        )  # fmt: skip
    rows["old succeeded beside a pending one"] = shared
    return rows


def test_purge_deletes_old_finished_rows_and_nothing_else(
    engine: Engine, old_and_new: dict[str, str]
) -> None:
    """Old finished deliveries go with their attempts and events; the rest stays, untouched."""
    events_before, attempts_before = ids(engine, "events"), count(engine, "attempts")
    before = cutoff(10, utcnow())
    assert before is not None
    expected = count_old(engine, before)

    purged = purge(engine, before, batch_size=2, pause=0)

    gone = ["old succeeded", "old failed", "old cancelled", "old succeeded beside a pending one"]
    kept = ["recent succeeded", "old pending", "old in flight"]
    left = ids(engine, "deliveries")
    assert {name for name in old_and_new if old_and_new[name] not in left} == set(gone)
    for name in kept:
        assert old_and_new[name] in left, name
        assert event_of(engine, old_and_new[name]) in ids(engine, "events")
    assert not any(attempt_rows(engine, old_and_new[name]) for name in gone)
    assert len(attempt_rows(engine, old_and_new["recent succeeded"])) == 2
    # The shared event stays while its pending delivery does.
    assert len(ids(engine, "events")) == len(events_before) - 3
    assert purged == Purged(deliveries=4, attempts=7, events=3, batches=purged.batches)
    assert purged.batches >= 2  # two per batch: more than one transaction
    assert count(engine, "attempts") == attempts_before - 7
    assert expected == Purged(deliveries=4, attempts=7, events=3)
    assert purge(engine, before) == Purged()  # nothing left to do


def test_purge_deletes_old_events_nobody_was_subscribed_to(engine: Engine) -> None:
    """An event that never had a delivery goes when it is old; a recent one stays."""
    now = utcnow()
    with engine.begin() as conn:
        for name, at in (("evt_old", now - 40 * DAY), ("evt_new", now)):
            conn.execute(
                events.insert().values(
                    id=new_id("evt"), tenant="acme", type=name, payload=b"{}", created_at=at
                )
            )
    before = now - 10 * DAY
    assert count_old(engine, before).events == 1
    assert purge(engine, before, pause=0).events == 1
    with engine.connect() as conn:
        assert list(conn.execute(select(events.c.type)).scalars()) == ["evt_new"]


def test_retention_of_zero_keeps_everything() -> None:
    """WEBHOOKS_RETENTION_DAYS=0 means no cut-off at all."""
    assert cutoff(0, utcnow()) is None
    assert Settings.from_env({"WEBHOOKS_RETENTION_DAYS": "0"}).retention_days == 0


def test_purge_command_dry_run_then_for_real(
    engine: Engine, env: dict[str, str], old_and_new: dict[str, str]
) -> None:
    """`webhooks purge --before DATE --dry-run` counts; without --dry-run it deletes."""
    runner = CliRunner()
    date = (utcnow() - 10 * DAY).date().isoformat()
    dry = runner.invoke(main, ["purge", "--before", date, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would delete 4 deliveries, 7 attempts and 3 events" in dry.output
    assert len(ids(engine, "deliveries")) == len(old_and_new) + 1

    done = runner.invoke(main, ["purge", "--before", date], env=env)
    assert done.exit_code == 0, done.output
    assert "deleted 4 deliveries, 7 attempts and 3 events" in done.output
    assert len(ids(engine, "deliveries")) == 4

    bad = runner.invoke(main, ["purge", "--before", "last tuesday"], env=env)
    assert bad.exit_code == 2
    assert "not a date" in bad.output


def test_a_large_backlog_is_purged_in_batches(engine: Engine) -> None:
    """Hundreds of old rows go in several short transactions, each at most a batch."""
    old = utcnow() - 40 * DAY
    endpoint = add_endpoint(engine, old)
    add_deliveries(engine, [old] * 250, endpoint, status=SUCCEEDED, updated_at=old)
    sizes: list[int] = []
    purge(
        engine,
        old + DAY,
        batch_size=100,
        pause=0,
        on_batch=lambda p, _s: sizes.append(p.deliveries),
    )
    assert sizes[:3] == [100, 100, 50]
    assert count(engine, "deliveries") == 0 and count(engine, "events") == 0
