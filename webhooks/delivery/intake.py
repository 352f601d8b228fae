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


class NewDelivery(Protocol):
    """A delivery just stored: its id and its endpoint's."""

    @property
    def id(self) -> str: ...

    @property
    def endpoint_id(self) -> str: ...


class Intake:
    """Queue new deliveries, or hold those whose endpoint has a line of held ones."""

    def __init__(self, engine: Engine, dispatcher: Dispatcher, throttle: Throttle) -> None:
        self.engine = engine
        self.dispatcher = dispatcher
        self.throttle = throttle

    def admit(self, new: Sequence[NewDelivery]) -> None:
        """Queue these committed deliveries; hold those behind a waiting endpoint."""
        waiting = self.throttle.waiting(d.endpoint_id for d in new)
        behind = [d.id for d in new if d.endpoint_id in waiting]
        if behind and not self._hold(behind):
            behind = []
        dispatch(self.engine, self.dispatcher, [d.id for d in new if d.id not in behind])

    def _hold(self, delivery_ids: list[str]) -> bool:
        try:
            with self.engine.begin() as conn:
                held.hold(conn, delivery_ids)
        except DBAPIError:
            return False  # queued after all: the worker holds each one in its turn
        return True
