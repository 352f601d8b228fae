"""Intake: a new delivery to an endpoint with deliveries held behind it waits behind them.

Queued instead, it would only be claimed and held in its turn (or, worse, overtake them):
the API holds it in SQL at once, where the worker freeing a slot, or the scheduler, releases
the endpoint's held deliveries in order.
"""

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from webhooks.delivery import held
from webhooks.delivery.queue import Dispatcher, dispatch
from webhooks.delivery.throttle import Throttle
from webhooks.times import utcnow


class NewDelivery(Protocol):
    """A delivery just stored: its id and its endpoint's."""

    @property
    def id(self) -> str: ...

    @property
    def endpoint_id(self) -> str: ...


class Intake:
    """Queue new deliveries, or hold those whose endpoint has a line of held ones."""

    def __init__(
        self, engine: Engine, dispatcher: Dispatcher, throttle: Throttle, default_cap: int
    ) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.throttle = throttle
        self.lines = held.Lines(engine, dispatcher, throttle)
        self.default_cap = default_cap  # slots of an endpoint whose max_in_flight is null

    def admit(self, new: Sequence[NewDelivery]) -> None:
        """Queue these committed deliveries; hold those behind a waiting endpoint."""
        waiting = self.throttle.waiting(d.endpoint_id for d in new)
        behind = [d.id for d in new if d.endpoint_id in waiting]
        if behind and not self._hold(behind, waiting):
            behind = []
        held_ids = set(behind)
        dispatch(self.engine, self.dispatcher, [d.id for d in new if d.id not in held_ids])

    def _hold(self, delivery_ids: list[str], endpoint_ids: set[str]) -> bool:
        try:
            with self.engine.begin() as conn:
                held.hold(conn, delivery_ids)
                limits = held.limits(conn, endpoint_ids, self.default_cap)
        except DBAPIError:
            return False  # queued after all: the worker holds each one in its turn
        # A worker may have ended the line, and cleared its mark, since the mark was read:
        # marked again, the next slot to free hands these over (not the scheduler's pass).
        for endpoint_id in endpoint_ids:
            self.throttle.mark_waiting(endpoint_id)
        # The line may have ended, its last slot freed, while these were being held.
        self.lines.wake(limits, utcnow())
        return True
