"""An operator's view of a full cycle: JSON log lines from every process, operational events.

One cycle: an endpoint that fails once then succeeds (with a custom header), one that
answers 410 Gone (its delivery fails, the endpoint is disabled), then that one re-enabled by
hand; an endpoint of the operations tenant hears about the disable, the failure and the
re-enable.
"""

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from tests.conftest import API_KEY
from tests.support import wait_until
from tests.support.api import (
    attempts_of,
    create_endpoint,
    deliveries_by_endpoint,
    get_endpoint,
    json_body,
    post_event,
    wait_for_delivery,
)
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply
from webhooks.observability.logs import configure_logging

OPERATIONS = "_operations"
HEADER_VALUE = "hdr-credential-7f3a9"
PAYLOAD_MARKER = "payload-marker-51c2e"


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """JSON log lines, as in production images."""
    return {**env, "WEBHOOKS_LOG_FORMAT": "json"}


@dataclass
class Cycle:
    """What one cycle created and what the API logged meanwhile."""

    ok: dict[str, Any]
    gone: dict[str, Any]
    ops: dict[str, Any]
    event: dict[str, Any]
    api_log: io.StringIO


def run_cycle(client: FlaskClient, receiver: Receiver) -> Cycle:
    """Retries, a success, a 410 that disables, a re-enable; wait for the operational events."""
    api_log = io.StringIO()
    configure_logging("INFO", "json", stream=api_log)
    receiver.script("/hook", Reply(500, body=b"boom"), Reply(200))
    receiver.script("/gone", Reply(410, body=b"gone"))
    ops = create_endpoint(client, receiver.url("/ops"), tenant=OPERATIONS)
    ok = create_endpoint(
        client,
        receiver.url("/hook"),
        event_types=["invoice.*"],
        headers={"X-Api-Key": HEADER_VALUE},
    )
    gone = create_endpoint(client, receiver.url("/gone"), event_types=["invoice.*"])
    event = post_event(client, data={"marker": PAYLOAD_MARKER})
    delivery_to = deliveries_by_endpoint(event)
    wait_for_delivery(client, delivery_to[ok["id"]], "succeeded")
    wait_for_delivery(client, delivery_to[gone["id"]], "failed")
    assert get_endpoint(client, gone["id"])["disabled_reason"] == "gone"
    enabled = client.patch(
        f"/v1/endpoints/{gone['id']}",
        json={"enabled": True},
        headers={"X-Request-Id": "reenable-1"},
    )
    assert json_body(enabled)["enabled"] is True
    assert enabled.headers["X-Request-Id"] == "reenable-1"
    receiver.wait_for(3, "/ops", timeout=30)
    return Cycle(ok, gone, ops, event, api_log)


def lines(output: str) -> list[dict[str, Any]]:
    """Every line of a process's output, each of which must be one JSON object."""
    found = []
    for line in output.splitlines():
        if line.strip():
            try:
                found.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON log line: {line!r}") from None
    return found


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_full_cycle_logs_json_lines_with_ids_and_no_secret(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """API, worker and beat write one JSON object per line: attempts, state changes, requests."""
    cycle = run_cycle(client, receiver)
    api, work, clock = lines(cycle.api_log.getvalue()), lines(worker.output()), lines(beat.output())
    for line in api + work + clock:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line

    # One line per attempt, with every id an on-call engineer searches by.
    attempts = [line for line in work if line["message"] == "attempt"]
    ok_lines = [a for a in attempts if a["endpoint_id"] == cycle.ok["id"]]
    assert [(a["attempt"], a["status_code"], a["outcome"]) for a in ok_lines] == [
        (1, 500, "failure"),
        (2, 200, "success"),
    ]
    for line in ok_lines:
        assert line["event_id"] == cycle.event["id"]
        assert line["delivery_id"] == deliveries_by_endpoint(cycle.event)[cycle.ok["id"]]
        assert line["tenant"] == "default"
        assert line["duration_ms"] > 0
    assert ok_lines[0]["level"] == "warning" and "next_attempt_at" in ok_lines[0]

    # One line per state change: the failure and the disable (worker), the enable (API).
    gone_id = cycle.gone["id"]
    failed = [line for line in work if line["message"] == "delivery failed"]
    assert [(f["endpoint_id"], f["reason"]) for f in failed] == [(gone_id, "http_4xx")]
    disabled = [line for line in work if line["message"] == "endpoint disabled"]
    assert [(d["endpoint_id"], d["reason"]) for d in disabled] == [(gone_id, "gone")]
    enabled = [line for line in api if line["message"] == "endpoint enabled"]
    assert [(e["endpoint_id"], e["request_id"]) for e in enabled] == [(gone_id, "reenable-1")]
    # The operational events' deliveries were queued by the scheduler, and delivered.
    assert any(line["message"].startswith("requeue: ") for line in work)
    assert any(line["message"] == "beat: Starting..." for line in clock)
    # Celery's own per-task lines ("received", "succeeded") are left to DEBUG.
    assert not any(line["message"].startswith("Task ") for line in work + clock)

    # A request id on every API line; the request line itself once per request.
    assert all(line.get("request_id") for line in api)
    requests = [line for line in api if line["message"] == "request"]
    assert {"method", "path", "status_code", "duration_ms"} <= set(requests[0])

    # Never a secret, a key, a custom header's value or the payload.
    everything = cycle.api_log.getvalue() + worker.output() + beat.output()
    for secret in (cycle.ok["secret"], cycle.gone["secret"], cycle.ops["secret"]):
        assert secret not in everything and secret.removeprefix("whsec_") not in everything
    for private in (API_KEY, HEADER_VALUE, PAYLOAD_MARKER):
        assert private not in everything, private


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_operational_events_reach_the_operations_tenant_signed(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """Disabled, failed and enabled each reach the operations endpoint, signed and audited."""
    cycle = run_cycle(client, receiver)
    received = receiver.wait_for(3, "/ops")
    by_type = {}
    for request in received:
        payload = Webhook(cycle.ops["secret"]).verify(request.body, request.headers)
        by_type[payload["type"]] = payload["data"]
    gone_id = cycle.gone["id"]
    delivery_id = deliveries_by_endpoint(cycle.event)[gone_id]
    assert set(by_type) == {
        "webhooks.endpoint.disabled",
        "webhooks.delivery.failed",
        "webhooks.endpoint.enabled",
    }
    disabled = by_type["webhooks.endpoint.disabled"]
    assert (disabled["endpoint_id"], disabled["tenant"], disabled["reason"]) == (
        gone_id,
        "default",
        "gone",
    )
    failed = by_type["webhooks.delivery.failed"]
    assert (failed["delivery_id"], failed["event_id"], failed["endpoint_id"]) == (
        delivery_id,
        cycle.event["id"],
        gone_id,
    )
    assert (failed["reason"], failed["last_status_code"], failed["attempts"]) == (
        "http_410",
        410,
        1,
    )
    assert by_type["webhooks.endpoint.enabled"]["endpoint_id"] == gone_id
    assert len(received) == 3  # nothing about the successful endpoint, nothing twice

    # Audited like any delivery, in the operations tenant.
    listed = json_body(client.get(f"/v1/deliveries?endpoint_id={cycle.ops['id']}"))["data"]
    assert len(listed) == 3
    for delivery in listed:
        wait_for_delivery(client, delivery["id"], "succeeded")
        assert attempts_of(client, delivery["id"])[0]["status_code"] == 200

    # The custom header arrived; the audit shows its name, never its value.
    (first, second) = receiver.received("/hook")
    assert first.headers["x-api-key"] == second.headers["x-api-key"] == HEADER_VALUE
    ok_delivery = deliveries_by_endpoint(cycle.event)[cycle.ok["id"]]
    sent = attempts_of(client, ok_delivery)[1]["request_headers"]
    assert sent["X-Api-Key"] == "***"
    assert sent["webhook-id"] == cycle.event["id"]
    assert sent["webhook-signature"] == second.headers["webhook-signature"]
    assert cycle.ok["headers"] == {"X-Api-Key": "***"}


def test_a_failing_operations_endpoint_emits_nothing_about_itself(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """An operations endpoint that answers 410 is disabled without an event about it."""
    receiver.script("/ops", Reply(410))
    receiver.script("/gone", Reply(410))
    ops = create_endpoint(client, receiver.url("/ops"), tenant=OPERATIONS)
    gone = create_endpoint(client, receiver.url("/gone"))
    post_event(client)

    def ops_disabled() -> bool:
        return bool(get_endpoint(client, ops["id"])["disabled_reason"] == "gone")

    wait_until(ops_disabled, timeout=30, message="the operations endpoint was never disabled")
    assert get_endpoint(client, gone["id"])["enabled"] is False
    # It got the first operational event (and failed it); nothing was emitted about that.
    events = json_body(client.get(f"/v1/events?tenant={OPERATIONS}"))["data"]
    types = sorted(e["type"] for e in events)
    assert types == ["webhooks.delivery.failed", "webhooks.endpoint.disabled"], types
    assert len(receiver.received("/ops")) <= 2
