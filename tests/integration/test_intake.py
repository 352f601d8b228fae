"""The API holds a new delivery behind its endpoint's held line instead of queueing it."""

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
from webhooks.delivery.throttle import Throttle


def test_a_new_delivery_waits_behind_its_endpoints_held_line(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """Held in SQL for the marked endpoint, queued for the other; nothing else differs."""
    waiting = create_endpoint(client)["id"]
    free = create_endpoint(client)["id"]
    throttle = Throttle(redis.Redis.from_url(redis_url), lease_seconds=1, horizon=1)
    throttle.mark_waiting(waiting)

    event = post_event(client)

    by_endpoint = deliveries_by_endpoint(event)
    held = row(engine, "deliveries", by_endpoint[waiting])
    assert (held["status"], held["held"], held["queued_until"]) == ("pending", True, None)
    assert row(engine, "deliveries", by_endpoint[free])["held"] is False
    assert queued_delivery_ids(redis_url) == [by_endpoint[free]]
    throttle.client.close()
