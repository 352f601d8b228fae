"""Slow receivers: a hanging one is cut at the timeout, a 429's Retry-After is waited out."""

import pytest
from flask.testing import FlaskClient

from tests.support.api import attempts_of, create_endpoint, post_event, wait_for_delivery
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply

TIMEOUT_SECONDS = 2.0  # WEBHOOKS_DELIVERY_TIMEOUT_SECONDS of the shared `env`


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """A short first step and a longest step of 2 s, so Retry-After: 1 is not capped away."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "0.3,2"}


def deliver_to(client: FlaskClient, url: str) -> str:
    """Register `url` and send it one event; return the delivery id."""
    create_endpoint(client, url)
    (delivery,) = post_event(client)["deliveries"]
    return str(delivery["id"])


def test_hanging_receiver_is_cut_at_the_timeout_and_retried(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """A receiver that does not answer within the timeout is cut off, recorded, and retried."""
    receiver.script("/hook", Reply(200, delay=TIMEOUT_SECONDS + 4), Reply(200, body=b"ok"))
    delivery_id = deliver_to(client, receiver.url("/hook"))

    delivery = wait_for_delivery(client, delivery_id, "succeeded")
    assert delivery["attempt_count"] == 2
    assert len(receiver.received("/hook")) == 2
    hung, answered = attempts_of(client, delivery_id)
    assert (hung["error"], hung["status_code"], hung["outcome"]) == ("timeout", None, "failure")
    # Cut at the timeout: not before it, and not by waiting for the receiver's late answer.
    timeout_ms = TIMEOUT_SECONDS * 1000
    assert 0.9 * timeout_ms <= hung["duration_ms"] <= timeout_ms + 1500
    assert (answered["status_code"], answered["response_body"]) == (200, "ok")


def test_retry_after_on_429_is_waited_out(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """After a 429 with Retry-After: 1 the next attempt comes at least a second later."""
    receiver.script("/hook", Reply(429, headers={"Retry-After": "1"}), Reply(200))
    delivery_id = deliver_to(client, receiver.url("/hook"))

    wait_for_delivery(client, delivery_id, "succeeded")
    limited, retried = receiver.received("/hook")
    # The schedule alone would have come back after about 0.3 s.
    assert retried.at - limited.at >= 1.0
    attempts = attempts_of(client, delivery_id)
    assert [a["status_code"] for a in attempts] == [429, 200]
