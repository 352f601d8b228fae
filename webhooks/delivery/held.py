"""Held lines: the deliveries waiting in SQL behind their endpoint's rate limit or cap.

The scheduler releases each line by what the endpoint's limits let go before its next pass.
Lines are found one endpoint at a time through the partial index on held rows, so a pass
costs a few index probes per endpoint with a line, however long the lines are.
"""

import math
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Connection, func, select, update

from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints


def release(
    conn: Connection,
    now: datetime,
    *,
    default_cap: int,
    interval: float,
    most: int,
) -> list[str]:
    """Un-hold, per endpoint, the due deliveries its limits let go in two passes; at most `most`.

    Return their ids, marked as queued now: the caller queues them.
    """
    chosen: list[str] = []
    for endpoint_id, quota in _lines(conn, default_cap, interval, most):
        chosen += conn.execute(
            select(deliveries.c.id)
            .where(
                deliveries.c.held,
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.next_attempt_at <= now,
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(min(quota, most - len(chosen)))
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


def _lines(
    conn: Connection, default_cap: int, interval: float, most: int
) -> Iterator[tuple[str, int]]:
    """Each endpoint with held deliveries, and how many of them one pass may release."""
    horizon = math.ceil(2 * interval)
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
        # A rate-limited line: as many as the rate sends in two passes (reserved instants
        # take no slot while they wait). Otherwise: a slot's worth each.
        quota = limits.max_in_flight or default_cap
        if limits.rate_limit is not None:
            quota = limits.rate_limit * horizon
        yield endpoint_id, quota
        after = endpoint_id
