"""Retention: delete what finished long ago, in small batches that never hold long locks.

A delivery that finished (succeeded, failed or cancelled) before the cut-off goes with its
attempts; an event goes once no delivery of it remains. Pending deliveries, and finished ones
an attempt still holds, are never touched. Each batch is its own short transaction.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, delete, exists, func, or_, select

from webhooks.models import PENDING
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.models import events_table as events
from webhooks.times import utcnow

log = logging.getLogger(__name__)

BATCH_SIZE = 500
# Between batches: room for the delivery path's writes (SQLite has one writer at a time).
PAUSE_SECONDS = 0.05


@dataclass(frozen=True)
class Purged:
    """What a purge deleted (or, in a dry run, would delete)."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0
    batches: int = 0

    def __add__(self, other: "Purged") -> "Purged":
        return Purged(
            self.deliveries + other.deliveries,
            self.attempts + other.attempts,
            self.events + other.events,
            self.batches + other.batches,
        )


def cutoff(retention_days: int, now: datetime) -> datetime | None:
    """The moment before which finished rows go; None when retention keeps everything."""
    return now - timedelta(days=retention_days) if retention_days > 0 else None


def purge(
    engine: Engine,
    before: datetime,
    *,
    batch_size: int = BATCH_SIZE,
    seconds: float | None = None,
    pause: float = PAUSE_SECONDS,
    on_batch: Callable[[Purged, float], None] | None = None,
) -> Purged:
    """Delete what finished before `before`, batch by batch, for at most `seconds`.

    `on_batch` hears each batch and how long it took (the benchmark's figures).
    """
    stop = None if seconds is None else time.monotonic() + seconds
    total = Purged()
    for step in (_finished_batch, _orphan_batch):
        while stop is None or time.monotonic() < stop:
            started = time.perf_counter()
            with engine.begin() as conn:
                done = step(conn, before, batch_size)
            if on_batch is not None:
                on_batch(done, time.perf_counter() - started)
            total += done
            if max(done.deliveries, done.events) < batch_size:
                break
            time.sleep(pause)
    if total.deliveries or total.events:
        log.info(
            "retention purged old rows",
            extra={
                "before": before.isoformat(),
                "deliveries": total.deliveries,
                "attempts": total.attempts,
                "events": total.events,
                "batches": total.batches,
            },
        )
    return total


def count(engine: Engine, before: datetime) -> Purged:
    """What `purge(engine, before)` would delete, deleting nothing (a dry run)."""
    with engine.connect() as conn:
        finished = select(deliveries.c.id).where(*_finished(before))
        counted_deliveries = conn.scalar(select(func.count()).select_from(finished.subquery()))
        counted_attempts = conn.scalar(
            select(func.count()).where(attempts.c.delivery_id.in_(finished))
        )
        staying = exists().where(
            deliveries.c.event_id == events.c.id,
            or_(
                deliveries.c.status == PENDING,
                deliveries.c.updated_at >= before,
                deliveries.c.lease_expires_at.is_not(None),
            ),
        )
        counted_events = conn.scalar(
            select(func.count()).where(events.c.created_at < before, ~staying)
        )
    return Purged(counted_deliveries or 0, counted_attempts or 0, counted_events or 0)


def _finished(before: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        deliveries.c.status != PENDING,
        deliveries.c.updated_at < before,
        # Cancelled while an attempt was in flight: that attempt still has to be recorded.
        deliveries.c.lease_expires_at.is_(None),
    )


def _finished_batch(conn: Connection, before: datetime, batch_size: int) -> Purged:
    """One batch of old finished deliveries, their attempts, and events left with none."""
    rows = conn.execute(
        select(deliveries.c.id, deliveries.c.event_id)
        .where(*_finished(before))
        .order_by(deliveries.c.updated_at)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return Purged()
    ids = [row.id for row in rows]
    event_ids = sorted({row.event_id for row in rows})
    removed_attempts = conn.execute(delete(attempts).where(attempts.c.delivery_id.in_(ids)))
    conn.execute(delete(deliveries).where(deliveries.c.id.in_(ids)))
    removed_events = conn.execute(
        delete(events).where(
            events.c.id.in_(event_ids),
            ~exists().where(deliveries.c.event_id == events.c.id),
        )
    )
    return Purged(len(ids), removed_attempts.rowcount, removed_events.rowcount, 1)


def _orphan_batch(conn: Connection, before: datetime, batch_size: int) -> Purged:
    """One batch of old events that never had a delivery (nobody was subscribed)."""
    ids = list(
        conn.execute(
            select(events.c.id)
            .where(
                events.c.created_at < before,
                ~exists().where(deliveries.c.event_id == events.c.id),
            )
            .order_by(events.c.created_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return Purged()
    removed = conn.execute(delete(events).where(events.c.id.in_(ids)))
    return Purged(events=removed.rowcount, batches=1)


def purge_due(engine: Engine, retention_days: int, seconds: float) -> Purged:
    """The scheduled purge: everything older than the retention period, within `seconds`."""
    before = cutoff(retention_days, utcnow())
    if before is None:
        return Purged()
    return purge(engine, before, seconds=seconds)
