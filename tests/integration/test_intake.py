"""The API holds a new delivery behind its endpoint's held line instead of queueing it."""

from collections.abc import Iterable

import pytest
import redis
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    create_endpoint,
    deliveries_by_endpoint,
    post_event,
    queued_delivery_ids,
    row,
)
from webhooks.delivery.throttle import Limits, Throttle, Verdict


def test_a_new_delivery_waits_behind_its_endpoints_held_line(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """Held in SQL for the marked endpoint with no room, queued for the other; and handed on
    as soon as the endpoint has room."""
    waiting = create_endpoint(client)["id"]
    free = create_endpoint(client)["id"]
    throttle = Throttle(redis.Redis.from_url(redis_url), lease_seconds=1, horizon=1)
    throttle.mark_waiting(waiting)
    # Its one slot (a new endpoint starts with one) is taken: there is no room to hand over.
    assert throttle.acquire(waiting, Limits(None, 10), "busy", False).verdict is Verdict.GO

    event = post_event(client)

    by_endpoint = deliveries_by_endpoint(event)
    held = row(engine, "deliveries", by_endpoint[waiting])
    assert (held["status"], held["held"], held["queued_until"]) == ("pending", True, None)
    assert row(engine, "deliveries", by_endpoint[free])["held"] is False
    assert queued_delivery_ids(redis_url) == [by_endpoint[free]]

    # Once the slot is free, the next event finds room: its line is handed on at once.
    throttle.release(waiting, "busy", timed_out=False, most=10)
    later = deliveries_by_endpoint(post_event(client))[waiting]
    assert row(engine, "deliveries", later)["queued_until"] is not None
    assert set(queued_delivery_ids(redis_url)) >= {by_endpoint[waiting], later}
    throttle.client.close()


def test_a_line_that_ended_while_the_api_looked_is_marked_again(
    client: FlaskClient, engine: Engine, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker ends the line just after the API read its mark: the delivery the API holds
    is marked again, so the next slot to free hands it over without the scheduler."""
    endpoint = create_endpoint(client)["id"]
    throttle = Throttle(redis.Redis.from_url(redis_url), lease_seconds=1, horizon=1)
    throttle.mark_waiting(endpoint)
    assert throttle.acquire(endpoint, Limits(None, 10), "busy", False).verdict is Verdict.GO
    read = Throttle.waiting

    def read_then_the_line_ends(self: Throttle, endpoint_ids: Iterable[str]) -> set[str]:
        found = read(self, endpoint_ids)
        throttle.clear_waiting(endpoint)  # a worker found no one held and ended the line
        return found

    monkeypatch.setattr(Throttle, "waiting", read_then_the_line_ends)
    held = deliveries_by_endpoint(post_event(client))[endpoint]
    assert row(engine, "deliveries", held)["held"] is True

    # The busy slot frees: the worker's release sees someone waiting and gives the room.
    assert throttle.release(endpoint, "busy", timed_out=False, most=10) >= 1
    throttle.client.close()
