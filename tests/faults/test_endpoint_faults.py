"""Endpoints that keep failing are disabled; deleted ones get nothing more; audit rows stay."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from tests.support import wait_until
from tests.support.api import (
    attempts_of,
    create_endpoint,
    get_delivery,
    get_endpoint,
    json_body,
    post_event,
    wait_for_attempts,
    wait_for_delivery,
)
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply
from webhooks.models import deliveries_table

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

STREAK = {
    "WEBHOOKS_RETRY_SCHEDULE": "0.5,0.5,0.5,0.5,0.5,0.5",
    "WEBHOOKS_DISABLE_AFTER_SECONDS": "1",
    "WEBHOOKS_DISABLE_AFTER_FAILURES": "3",
}


@pytest.fixture
def env(env: dict[str, str], request: pytest.FixtureRequest) -> dict[str, str]:
    """The shared environment with the settings a test names (indirect parametrisation)."""
    return {**env, **getattr(request, "param", {})}


def streak(client: FlaskClient, endpoint_id: str) -> dict[str, Any]:
    """The endpoint's current failure streak."""
    stats = json_body(client.get(f"/v1/endpoints/{endpoint_id}/stats"))
    found: dict[str, Any] = stats["failure_streak"]
    return found


def settled(engine: Engine) -> bool:
    """True when every delivery is cancelled with no attempt under way: final, in one snapshot.

    A delivery cancelled while its attempt is in flight still holds its lease until that
    attempt is recorded, so "cancelled" alone is not yet the end.
    """
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries_table.c.status, deliveries_table.c.lease_token))
        return all(row.status == "cancelled" and row.lease_token is None for row in rows)


@pytest.mark.parametrize("env", [STREAK], indirect=True, ids=["streak-3-in-1s"])
def test_failing_endpoint_is_disabled_and_re_enabling_resets_the_streak(
    client: FlaskClient, engine: Engine, receiver: Receiver, worker: CeleryProcess
) -> None:
    """3 failures over 1 s disable the endpoint and cancel its deliveries; PATCH starts afresh."""
    receiver.script("/hook", 500)
    endpoint = create_endpoint(client, receiver.url("/hook"))
    deliveries = [post_event(client, data={"n": n})["deliveries"][0]["id"] for n in range(2)]

    disabled = wait_until(
        lambda: (found := get_endpoint(client, endpoint["id"]))["enabled"] is False and found,
        timeout=30,
        message="the endpoint was never disabled",
    )
    assert disabled["disabled_reason"] == "failing"
    wait_until(lambda: settled(engine), message="the deliveries were not cancelled")
    for delivery_id in deliveries:
        found = get_delivery(client, delivery_id)
        # Disabled long before the 7 attempts of the schedule ran out.
        assert (found["status"], found["attempt_count"] < 7) == ("cancelled", True)
    assert streak(client, endpoint["id"])["failures"] >= 3

    receiver.script("/hook", 500, 200)
    patched = json_body(client.patch(f"/v1/endpoints/{endpoint['id']}", json={"enabled": True}))
    assert (patched["enabled"], patched["disabled_reason"]) == (True, None)
    assert streak(client, endpoint["id"]) == {"failures": 0, "since": None}
    # With the old streak kept, this first failure would disable the endpoint at once.
    (fresh,) = post_event(client, data={"n": 3})["deliveries"]
    assert wait_for_delivery(client, fresh["id"], "succeeded", timeout=30)["attempt_count"] == 2
    assert get_endpoint(client, endpoint["id"])["enabled"] is True


@pytest.mark.parametrize("env", [STREAK], indirect=True, ids=["streak-3-in-1s"])
def test_a_success_in_between_resets_the_streak(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """Four failures over more than a second, with a success between them: still enabled."""
    receiver.script("/hook", 500, 500, 200, 500, 500, 200)
    endpoint = create_endpoint(client, receiver.url("/hook"))
    for n in range(2):
        (sent,) = post_event(client, data={"n": n})["deliveries"]
        assert wait_for_delivery(client, sent["id"], "succeeded", timeout=30)["attempt_count"] == 3

    requests = receiver.received("/hook")
    assert requests[-1].at - requests[0].at > 1  # the failures did span the window
    found = get_endpoint(client, endpoint["id"])
    assert (found["enabled"], found["disabled_reason"]) == (True, None)
    assert streak(client, endpoint["id"]) == {"failures": 0, "since": None}


COUNTDOWN = {"WEBHOOKS_RETRY_SCHEDULE": "3,3"}  # retries ride a 3 s countdown in the worker


@pytest.mark.parametrize("env", [COUNTDOWN], indirect=True, ids=["countdown-3s"])
def test_deleting_an_endpoint_cancels_its_pending_deliveries_and_keeps_attempts(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """A retry waiting in the worker finds its endpoint deleted: cancelled, nothing sent."""
    receiver.script("/hook", 500)
    endpoint = create_endpoint(client, receiver.url("/hook"))
    (sent,) = post_event(client)["deliveries"]
    wait_for_attempts(client, sent["id"], 1)
    waiting = get_delivery(client, sent["id"])

    assert client.delete(f"/v1/endpoints/{endpoint['id']}").status_code == 204
    assert get_delivery(client, sent["id"])["status"] == "cancelled"
    assert client.get(f"/v1/endpoints/{endpoint['id']}").status_code == 404

    # The countdown task runs at its time and must find nothing to send.
    due = waiting["next_attempt_at"]
    deadline = datetime.fromisoformat(due) + timedelta(seconds=1.5)
    wait_until(lambda: datetime.now(UTC) > deadline, timeout=10)
    assert len(receiver.received("/hook")) == 1
    assert get_delivery(client, sent["id"])["status"] == "cancelled"
    attempts = attempts_of(client, sent["id"])
    assert [(a["number"], a["status_code"]) for a in attempts] == [(1, 500)]


@pytest.mark.parametrize("env", [COUNTDOWN], indirect=True, ids=["countdown-3s"])
def test_deleting_an_endpoint_during_an_attempt_keeps_the_delivery_cancelled(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """Deleted while a request is in flight: the attempt is recorded, the delivery stays so."""
    receiver.script("/hook", Reply(500, delay=1.5))
    endpoint = create_endpoint(client, receiver.url("/hook"))
    (sent,) = post_event(client)["deliveries"]
    receiver.wait_for(1, "/hook")

    assert client.delete(f"/v1/endpoints/{endpoint['id']}").status_code == 204
    assert get_delivery(client, sent["id"])["status"] == "cancelled"
    wait_for_attempts(client, sent["id"], 1)
    found = get_delivery(client, sent["id"])
    assert (found["status"], found["next_attempt_at"]) == ("cancelled", None)
