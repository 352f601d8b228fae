"""Answers that end or divert delivery: 410 Gone, redirects, and addresses the guard blocks."""

import pytest
from flask.testing import FlaskClient

from tests.support.api import (
    create_endpoint,
    deliveries_by_endpoint,
    get_delivery,
    get_endpoint,
    post_event,
    wait_for_attempts,
    wait_for_delivery,
)
from tests.support.processes import start_worker
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """A long single step: a failed delivery stays pending (parked for a scheduler not running)."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": "60"}


def send_event_to(client: FlaskClient, receiver: Receiver, *paths: str) -> list[str]:
    """Register one endpoint per receiver path, send one event; return deliveries in path order."""
    endpoint_ids = [create_endpoint(client, receiver.url(path))["id"] for path in paths]
    deliveries = deliveries_by_endpoint(post_event(client))
    return [deliveries[endpoint_id] for endpoint_id in endpoint_ids]


@pytest.mark.usefixtures("worker")
def test_gone_disables_the_endpoint(client: FlaskClient, receiver: Receiver) -> None:
    """A 410 disables the endpoint, fails its delivery at once and cancels the pending ones."""
    receiver.script("/gone", Reply(500), Reply(410, body=b"unsubscribed"))
    gone = create_endpoint(client, receiver.url("/gone"))["id"]
    other = create_endpoint(client, receiver.url("/other"))["id"]
    parked = deliveries_by_endpoint(post_event(client))[gone]
    # The 500 leaves this delivery pending, its retry a minute away.
    wait_for_attempts(client, parked, 1)
    assert get_delivery(client, parked)["status"] == "pending"

    refused = deliveries_by_endpoint(post_event(client))[gone]
    (attempt,) = wait_for_attempts(client, refused, 1)
    assert (attempt["status_code"], attempt["response_body"]) == (410, "unsubscribed")
    # Recorded in the attempt's own transaction: visible together with the attempt.
    endpoint = get_endpoint(client, gone)
    assert (endpoint["enabled"], endpoint["disabled_reason"]) == (False, "gone")
    assert get_delivery(client, refused)["status"] == "failed"
    assert get_delivery(client, refused)["attempt_count"] == 1
    assert get_delivery(client, parked)["status"] == "cancelled"

    # The next event goes to the other endpoint only.
    assert list(deliveries_by_endpoint(post_event(client))) == [other]
    receiver.wait_for(3, "/other")
    assert len(receiver.received("/gone")) == 2


@pytest.mark.usefixtures("worker")
def test_redirect_is_not_followed(client: FlaskClient, receiver: Receiver) -> None:
    """A 302 or 307 is recorded as `redirect_not_followed`; the redirect target gets nothing."""
    # 307 keeps the method: had it been followed, the target would have received a POST.
    for status in (302, 307):
        receiver.script(f"/{status}", Reply(status, headers={"Location": receiver.url("/target")}))
    ids = send_event_to(client, receiver, "/302", "/307")

    for status, delivery_id in zip((302, 307), ids, strict=True):
        (attempt,) = wait_for_attempts(client, delivery_id, 1)
        assert (attempt["status_code"], attempt["error"]) == (status, "redirect_not_followed")
        assert attempt["outcome"] == "failure"
        # A failure like any other: retried by the schedule.
        assert get_delivery(client, delivery_id)["status"] == "pending"
    assert receiver.received("/target") == []


def test_blocked_address_gets_nothing(
    env: dict[str, str], client: FlaskClient, receiver: Receiver
) -> None:
    """A worker whose guard blocks loopback sends nothing there and fails the delivery at once."""
    # The API allowed the loopback URL; the worker, which checks every attempt, does not.
    worker = start_worker({**env, "WEBHOOKS_ALLOW_NETWORKS": ""})
    try:
        (delivery_id,) = send_event_to(client, receiver, "/hook")
        wait_for_delivery(client, delivery_id, "failed")
    finally:
        worker.stop()
    (attempt,) = wait_for_attempts(client, delivery_id, 1)
    assert (attempt["error"], attempt["status_code"]) == ("blocked_address", None)
    assert get_delivery(client, delivery_id)["attempt_count"] == 1
    assert receiver.received() == []
