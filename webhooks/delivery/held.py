"""Held lines: the deliveries waiting in SQL behind their endpoint's rate limit or cap.

A scheduler pass queues, per endpoint, what the endpoint has room for now (its quota: free
slots, or free instants of its rate limit) and holds the rest: held lines are released in
order, by each pass and by workers as slots free. Lines are found one endpoint at a time
through the partial index on held rows, so a pass costs a few index probes per endpoint with
a line, however long the lines are.
"""

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update

from webhooks.delivery.ledger import CLOCK_SKEW
from webhooks.delivery.queue import Dispatcher, dispatch
from webhooks.delivery.statements import ANY_HELD, HAND_OVER, NEXT_HELD, UNHOLD, bind
from webhooks.delivery.throttle import Limits, Throttle
from webhooks.driver import DriverStatement
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints

# Each endpoint's quota for a pass, from its limits.
Quotas = Callable[[dict[str, Limits]], dict[str, int]]


def release(
    conn: Connection,
    now: datetime,
    quotas: Quotas,
    queued: Counter[str],
    *,
    default_cap: int,
    most: int,
) -> list[str]:
    """Un-hold, per endpoint, the due deliveries left of its quota for the pass (`queued`
    counts those already queued); at most `most` in all.

    Return their ids, marked as queued now: the caller queues them.
    """
    lines = list(_lines(conn, most))
    allowed = quotas(limits(conn, lines, default_cap))
    chosen: list[str] = []
    for endpoint_id in lines:
        room = min(allowed.get(endpoint_id, 0) - queued[endpoint_id], most - len(chosen))
        if room <= 0:
            continue
        taken = conn.execute(
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
        chosen += taken
        queued[endpoint_id] += room
    if chosen:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(chosen))
            .values(held=False, queued_until=now)
        )
    return chosen


class Lines:
    """Hands endpoints' held lines on as their slots free.

    On PostgreSQL the next deliveries are taken and marked queued in one statement through
    the driver: a worker hands over at every slot it frees behind a line.
    """

    def __init__(self, engine: Engine, dispatcher: Dispatcher, throttle: Throttle) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.throttle = throttle
        postgres = engine.dialect.name == "postgresql"
        self.next_held = DriverStatement(engine, HAND_OVER) if postgres else None
        self.any_held = DriverStatement(engine, ANY_HELD) if postgres else None

    def hand_over(self, endpoint_id: str, free: int, now: datetime) -> bool:
        """Queue as many of the endpoint's due held deliveries as it has free slots; with none
        held, its line is over. True if a delivery was held meanwhile: look at its room again."""
        taken, more = self.unhold_next(endpoint_id, free, now)
        if taken:
            dispatch(self.engine, self.dispatcher, taken)
        if taken or more:
            return False
        self.throttle.clear_waiting(endpoint_id)
        # One held (and marked) while this looked would be left without its mark, and no
        # worker freeing a slot would hand it over: look once more, after the clear.
        if not self.has_held(endpoint_id):
            return False
        self.throttle.mark_waiting(endpoint_id)
        return True

    def wake(self, limits: dict[str, Limits], now: datetime) -> None:
        """After holding deliveries: hand over what room their endpoints have now.

        A slot that freed between the verdict and the hold found no one to hand it to.
        """
        for endpoint_id, free in (self.throttle.room(limits) or {}).items():
            if free and self.hand_over(endpoint_id, free, now):
                self.wake({endpoint_id: limits[endpoint_id]}, now)

    def unhold_next(self, endpoint_id: str, count: int, now: datetime) -> tuple[list[str], bool]:
        """Mark the endpoint's next `count` due held deliveries as queued; say if any stay."""
        if self.next_held is None:
            with self.engine.begin() as conn:
                return unhold_next(conn, endpoint_id, count, now)
        params = bind(endpoint_id=endpoint_id, count=count, due_by=now + CLOCK_SKEW, queued_at=now)
        rows = self.next_held.all(params)
        if rows:
            # RETURNING keeps no order: queued oldest first, as the line stands.
            return [row.id for row in sorted(rows, key=lambda row: row.next_attempt_at)], True
        return [], self.has_held(endpoint_id)

    def has_held(self, endpoint_id: str) -> bool:
        """Whether any delivery is held behind the endpoint, due or not."""
        if self.any_held is None:
            with self.engine.connect() as conn:
                return conn.execute(ANY_HELD, bind(endpoint_id=endpoint_id)).first() is not None
        return self.any_held.one_or_none(bind(endpoint_id=endpoint_id)) is not None


def unhold_next(
    conn: Connection, endpoint_id: str, count: int, now: datetime
) -> tuple[list[str], bool]:
    """Mark the endpoint's next `count` due held deliveries as queued; say if any stay."""
    # Held a moment ago by a worker whose clock is a little ahead, it is still due: left
    # behind, it would wait for the scheduler's next pass.
    params = bind(endpoint_id=endpoint_id, count=count, due_by=now + CLOCK_SKEW)
    taken = list(conn.execute(NEXT_HELD, params).scalars())
    if taken:
        conn.execute(UNHOLD, bind(ids=taken, queued_at=now))
        return taken, True
    return [], conn.execute(ANY_HELD, bind(endpoint_id=endpoint_id)).first() is not None


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


def limits(conn: Connection, endpoint_ids: Iterable[str], default_cap: int) -> dict[str, Limits]:
    """These endpoints' limits, as they stand now."""
    rows = conn.execute(
        select(endpoints.c.id, endpoints.c.max_in_flight, endpoints.c.rate_limit).where(
            endpoints.c.id.in_(list(endpoint_ids))
        )
    )
    return {row.id: Limits(row.rate_limit, row.max_in_flight or default_cap) for row in rows}


def quota(limits: Limits, interval: float) -> int:
    """A pass's quota without the throttle's word: two passes of its rate, or its cap."""
    if limits.rate is not None:
        return int(limits.rate * math.ceil(2 * interval))
    return limits.in_flight


def _lines(conn: Connection, most: int) -> Iterator[str]:
    """Each endpoint with held deliveries (at most `most` of them)."""
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
        yield endpoint_id
        after = endpoint_id
