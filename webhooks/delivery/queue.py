"""The seam between the core and the task queue: the core only ever hands over delivery ids."""

import logging
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Engine, update
from sqlalchemy.exc import DBAPIError

from webhooks.models import deliveries_table as deliveries

log = logging.getLogger(__name__)


class Dispatcher(Protocol):
    """Puts delivery tasks on the broker."""

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        """Queue one task per id; return the ids that could not be queued."""
        ...

    def ping(self) -> None:
        """Raise Unavailable if the broker does not answer."""
        ...


def dispatch(engine: Engine, dispatcher: Dispatcher, delivery_ids: Sequence[str]) -> list[str]:
    """Enqueue committed deliveries; return the ids left to the scheduler."""
    if not delivery_ids:
        return []
    unsent = dispatcher.enqueue(delivery_ids)
    if unsent:
        release(engine, unsent)
    return unsent


def release(engine: Engine, delivery_ids: Sequence[str]) -> None:
    """Clear the queued mark so that the scheduler's next pass picks these up."""
    try:
        with engine.begin() as conn:
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)))
                .values(queued_until=None)
            )
    except DBAPIError:
        # Not fatal: the mark goes stale after a lease length and the scheduler acts then.
        log.warning("could not release %d deliveries to the scheduler", len(delivery_ids))
