"""Held lines: the deliveries waiting in SQL behind their endpoint's rate limit or cap.

A scheduler pass queues, per endpoint, what the endpoint's limits let go before the next pass
(its quota) and holds the rest: held lines are released in order, by the same quota each pass
and by workers as slots free. Lines are found one endpoint at a time through the partial
index on held rows, so a pass costs a few index probes per endpoint with a line, however long
the lines are.
"""

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update

from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints


def release(
    conn: Connection,
    now: datetime,
    queued: Counter[str],
    *,
    default_cap: int,
    interval: float,
    most: int,
) -> list[str]:
    """Un-hold, per endpoint, the due deliveries left of its quota for the pass (`queued`
    counts those already queued); at most `most` in all.

    Return their ids, marked as queued now: the caller queues them.
    """
    chosen: list[str] = []
    for endpoint_id, quota in _lines(conn, default_cap, interval, most):
        room = min(quota - queued[endpoint_id], most - len(chosen))
        if room <= 0:
            continue
        queued[endpoint_id] += room
        chosen += conn.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.held,
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.next_attempt_at <= now,
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(room)
            .with_for_update(skip_locked=True)
        ).scalars()
        if len(chosen) >= most:
            break
    if chosen:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(chosen))
            .values(held=False, queued_until=now)
        )
    return chosen


def hold(conn: Connection, delivery_ids: list[str]) -> None:
    """Hold these pending deliveries behind their endpoint, unqueued."""
    if delivery_ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(delivery_ids))
            .values(held=True, queued_until=None)
        )


def split(
    rows: Iterable[Any], allowed: dict[str, int], queued: Counter[str]
) -> tuple[list[str], dict[str, str]]:
    """Due deliveries (id, endpoint_id) in order: those within their endpoint's quota for the
    pass (counted in `queued`), and the others with their endpoints, to hold."""
    due: list[str] = []
    behind: dict[str, str] = {}
    for row in rows:
        if queued[row.endpoint_id] < allowed.get(row.endpoint_id, 0):
            queued[row.endpoint_id] += 1
            due.append(row.id)
        else:
            behind[row.id] = row.endpoint_id
    return due, behind


def quotas(
    conn: Connection, endpoint_ids: Iterable[str], *, default_cap: int, interval: float
) -> dict[str, int]:
    """How many deliveries each of these endpoints may have queued in one pass."""
    rows = conn.execute(
        select(endpoints.c.id, endpoints.c.max_in_flight, endpoints.c.rate_limit).where(
            endpoints.c.id.in_(list(endpoint_ids))
        )
    )
    return {row.id: _quota(row, default_cap, interval) for row in rows}


def _quota(limits: Any, default_cap: int, interval: float) -> int:
    # A rate-limited endpoint: what its rate sends in two passes (an instant reserved ahead
    # takes no slot while it waits). Otherwise: its slots' worth.
    if limits.rate_limit is not None:
        return int(limits.rate_limit * math.ceil(2 * interval))
    return int(limits.max_in_flight or default_cap)


def _lines(
    conn: Connection, default_cap: int, interval: float, most: int
) -> Iterator[tuple[str, int]]:
    """Each endpoint with held deliveries, and how many of them one pass may release."""
    after = ""
    for _ in range(most):
        # A skip scan: the next endpoint id in the held rows' index, one probe each.
        endpoint_id = conn.execute(
            select(func.min(deliveries.c.endpoint_id)).where(
                deliveries.c.held, deliveries.c.endpoint_id > after
            )
        ).scalar_one_or_none()
        if endpoint_id is None:
            return
        limits = conn.execute(
            select(endpoints.c.max_in_flight, endpoints.c.rate_limit).where(
                endpoints.c.id == endpoint_id
            )
        ).one()
        yield endpoint_id, _quota(limits, default_cap, interval)
        after = endpoint_id
