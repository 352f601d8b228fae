"""Retries: the schedule re-sends failures, gives up after its last step, and a user can resend."""

import json

import pytest
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from tests.support.api import (
    attempts_of,
    create_endpoint,
    json_body,
    post_event,
    wait_for_delivery,
)
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply

SCHEDULE = (1.2, 1.2)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """Steps over a second apart (with jitter), so each attempt has its own webhook-timestamp."""
    return {**env, "WEBHOOKS_RETRY_SCHEDULE": ",".join(map(str, SCHEDULE))}


def send_one(client: FlaskClient) -> tuple[str, str]:
    """Send an event that reaches exactly one endpoint; return (event id, delivery id)."""
    event = post_event(client, data={"n": 1})
    (delivery,) = event["deliveries"]
    return event["id"], delivery["id"]


def test_failures_then_success_are_retried_and_audited(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """A 500 and a 503 are retried; the third attempt succeeds; the audit trail matches."""
    receiver.script(
        "/hook",
        Reply(500, body=b"boom"),
        Reply(503, body=b"busy"),
        Reply(200, body=b'{"ok":true}'),
    )
    endpoint = create_endpoint(client, receiver.url("/hook"))
    event_id, delivery_id = send_one(client)

    delivery = wait_for_delivery(client, delivery_id, "succeeded")
    assert (delivery["attempt_count"], delivery["last_status_code"]) == (3, 200)
    requests = receiver.received("/hook")
    assert len(requests) == 3
    # One message, de-duplicable by its id, signed afresh for each attempt.
    assert {r.headers["webhook-id"] for r in requests} == {event_id}
    assert len({r.body for r in requests}) == 1
    timestamps = [int(r.headers["webhook-timestamp"]) for r in requests]
    assert timestamps == sorted(set(timestamps))
    for request, timestamp in zip(requests, timestamps, strict=True):
        assert timestamp <= request.at < timestamp + 2
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert len({r.headers["webhook-signature"] for r in requests}) == 3

    attempts = attempts_of(client, delivery_id)
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert [a["response_body"] for a in attempts] == ["boom", "busy", '{"ok":true}']
    assert [a["outcome"] for a in attempts] == ["failure", "failure", "success"]
    assert [a["error"] for a in attempts] == [None, None, None]
    assert all(a["delivery_id"] == delivery_id for a in attempts)


def test_always_failing_receiver_ends_failed(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """A receiver that always fails gets one attempt plus one per step, then the delivery fails."""
    receiver.script("/hook", Reply(500, body=b"still broken"))
    create_endpoint(client, receiver.url("/hook"))
    _, delivery_id = send_one(client)

    delivery = wait_for_delivery(client, delivery_id, "failed")
    expected = 1 + len(SCHEDULE)
    assert delivery["attempt_count"] == expected
    assert len(receiver.received("/hook")) == expected
    attempts = attempts_of(client, delivery_id)
    assert [a["number"] for a in attempts] == list(range(1, expected + 1))
    assert {(a["status_code"], a["response_body"], a["outcome"]) for a in attempts} == {
        (500, "still broken", "failure")
    }


def test_manual_retry_resends_a_succeeded_delivery(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """POST /retry sends a succeeded delivery again, same webhook-id, attempt numbers going on."""
    receiver.script("/hook", Reply(200, body=b"first"), Reply(200, body=b"second"))
    create_endpoint(client, receiver.url("/hook"))
    event_id, delivery_id = send_one(client)
    wait_for_delivery(client, delivery_id, "succeeded")
    receiver.wait_for(1, "/hook")

    retried = json_body(client.post(f"/v1/deliveries/{delivery_id}/retry"), 202)
    assert (retried["id"], retried["status"]) == (delivery_id, "pending")

    first, second = receiver.wait_for(2, "/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
    assert json.loads(second.body) == json.loads(first.body)
    delivery = wait_for_delivery(client, delivery_id, "succeeded")
    assert (delivery["attempt_count"], delivery["last_status_code"]) == (2, 200)
    attempts = attempts_of(client, delivery_id)
    assert [(a["number"], a["response_body"]) for a in attempts] == [(1, "first"), (2, "second")]
    assert len(receiver.received("/hook")) == 2
