"""Deliveries: list and filters, one delivery, its attempts (the audit trail), retry."""

import re
from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    DELIVERY_FIELDS,
    RFC3339,
    add_attempt,
    create_endpoint,
    invalid,
    problem,
    queued_delivery_ids,
    row,
    send_event,
    set_row,
)
from webhooks.times import utcnow

UNKNOWN = "dlv_01aaaaaaaaaaaaaaaaaaaaaaaa"


def test_list_filters_by_endpoint_event_and_status(client: FlaskClient, engine: Engine) -> None:
    """endpoint_id, event_id and status narrow the list, alone or together."""
    first, second = create_endpoint(client), create_endpoint(client)
    one = send_event(client).get_json()
    two = send_event(client).get_json()
    delivery = {(e["id"], d["endpoint_id"]): d["id"] for e in (one, two) for d in e["deliveries"]}
    failed = delivery[(two["id"], second["id"])]
    set_row(engine, "deliveries", failed, status="failed")

    def ids(query: str) -> set[str]:
        response = client.get(f"/v1/deliveries{query}")
        assert response.status_code == 200
        return {d["id"] for d in response.get_json()["data"]}

    assert ids("") == set(delivery.values())
    assert ids(f"?endpoint_id={first['id']}") == {delivery[(one["id"], first["id"])],
                                                  delivery[(two["id"], first["id"])]}  # fmt: skip
    assert ids(f"?event_id={one['id']}") == {delivery[(one["id"], first["id"])],
                                             delivery[(one["id"], second["id"])]}  # fmt: skip
    assert ids("?status=failed") == {failed}
    assert ids(f"?status=pending&endpoint_id={second['id']}") == {
        delivery[(one["id"], second["id"])]
    }
    assert ids("?status=cancelled") == set()
    assert ids("?endpoint_id=ep_01aaaaaaaaaaaaaaaaaaaaaaaa") == set()
    page = client.get("/v1/deliveries?limit=3").get_json()
    assert len(page["data"]) == 3 and page["next_cursor"] == sorted(delivery.values())[1]
    for query, loc in [
        ("?status=done", ["query", "status"]),
        ("?status=PENDING", ["query", "status"]),
        ("?endpoint_id=nope", ["query", "endpoint_id"]),
        ("?endpoint_id=%00", ["query", "endpoint_id"]),
        (f"?event_id={first['id']}", ["query", "event_id"]),
        ("?limit=0", ["query", "limit"]),
    ]:
        assert invalid(client.get(f"/v1/deliveries{query}")) == [loc], query


def test_get_delivery_has_the_documented_shape(client: FlaskClient, engine: Engine) -> None:
    """A delivery object has exactly the fields the API promises, with the state SQL holds."""
    endpoint = create_endpoint(client)
    event = send_event(client).get_json()
    (ref,) = event["deliveries"]
    set_row(engine, "deliveries", ref["id"], attempt_count=2, last_status_code=500)

    response = client.get(f"/v1/deliveries/{ref['id']}")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == DELIVERY_FIELDS
    assert (body["id"], body["event_id"], body["endpoint_id"]) == (
        ref["id"],
        event["id"],
        endpoint["id"],
    )
    assert (body["status"], body["attempt_count"], body["last_status_code"]) == ("pending", 2, 500)
    for stamp in ("next_attempt_at", "created_at", "updated_at"):
        assert re.fullmatch(RFC3339, body[stamp]), stamp
    problem(client.get(f"/v1/deliveries/{UNKNOWN}"), 404)
    problem(client.get("/v1/deliveries/nope"), 404)


def test_attempts_are_listed_oldest_first(client: FlaskClient, engine: Engine) -> None:
    """Every attempt, in order of number, with the fields the API promises."""
    create_endpoint(client)
    (ref,) = send_event(client).get_json()["deliveries"]
    path = f"/v1/deliveries/{ref['id']}/attempts"
    assert client.get(path).get_json() == {"data": []}
    start = utcnow().replace(microsecond=0)
    # Written out of order: the list is ordered by number, not by insertion.
    third = add_attempt(
        engine, ref["id"], 3, start + timedelta(seconds=9), status_code=200, outcome="success",
        response_body="ok", duration_ms=4.25,
    )  # fmt: skip
    first = add_attempt(
        engine, ref["id"], 1, start, status_code=None, response_body=None, duration_ms=2000.0,
        error="timeout",
    )  # fmt: skip
    second = add_attempt(
        engine, ref["id"], 2, start + timedelta(seconds=1), response_body="x" * 4096
    )

    response = client.get(path)

    assert response.status_code == 200
    attempts = response.get_json()["data"]
    assert [a["id"] for a in attempts] == [first, second, third]
    assert attempts[0] == {
        "id": first,
        "delivery_id": ref["id"],
        "number": 1,
        "started_at": start.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "duration_ms": 2000.0,
        "status_code": None,
        "response_body": None,
        "error": "timeout",
        "outcome": "failure",
        "request_headers": None,
    }
    assert (attempts[1]["status_code"], len(attempts[1]["response_body"])) == (500, 4096)
    assert (attempts[2]["outcome"], attempts[2]["duration_ms"], attempts[2]["error"]) == (
        "success",
        4.25,
        None,
    )
    problem(client.get(f"/v1/deliveries/{UNKNOWN}/attempts"), 404)


def test_retry_a_finished_delivery_starts_a_fresh_run(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """202: a failed or succeeded delivery is pending again, due now, queued; numbers continue."""
    create_endpoint(client)
    failed, succeeded = (send_event(client).get_json()["deliveries"][0]["id"] for _ in range(2))
    for delivery_id, status in ((failed, "failed"), (succeeded, "succeeded")):
        set_row(
            engine, "deliveries", delivery_id, status=status, attempt_count=3, next_attempt_at=None,
            queued_until=None, last_status_code=500 if status == "failed" else 200,
        )  # fmt: skip
    queued_before = queued_delivery_ids(redis_url)

    for delivery_id in (failed, succeeded):
        before = utcnow()
        response = client.post(f"/v1/deliveries/{delivery_id}/retry")

        assert response.status_code == 202
        body = response.get_json()
        assert set(body) == DELIVERY_FIELDS
        assert (body["id"], body["status"], body["attempt_count"]) == (delivery_id, "pending", 3)
        stored = row(engine, "deliveries", delivery_id)
        # The schedule counts again from the attempts already made; the next one is number 4.
        assert (stored["status"], stored["run_start"], stored["attempt_count"]) == ("pending", 3, 3)
        assert before <= stored["next_attempt_at"] <= utcnow()
    assert queued_delivery_ids(redis_url) == [*queued_before, failed, succeeded]


def test_retry_a_pending_delivery_makes_it_due_now(
    client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """A delivery parked for a later retry is made due now and queued, its run unchanged."""
    create_endpoint(client)
    (ref,) = send_event(client).get_json()["deliveries"]
    later = utcnow() + timedelta(hours=2)
    set_row(engine, "deliveries", ref["id"], attempt_count=2, run_start=0, next_attempt_at=later)

    assert client.post(f"/v1/deliveries/{ref['id']}/retry").status_code == 202

    stored = row(engine, "deliveries", ref["id"])
    assert stored["next_attempt_at"] <= utcnow() and stored["run_start"] == 0
    assert queued_delivery_ids(redis_url).count(ref["id"]) == 2  # on send, and on retry


def test_retry_refusals(client: FlaskClient, engine: Engine, redis_url: str) -> None:
    """Unknown id 404; disabled or deleted endpoint, or an attempt in flight, 409."""
    problem(client.post(f"/v1/deliveries/{UNKNOWN}/retry"), 404)
    problem(client.post("/v1/deliveries/nope/retry"), 404)

    disabled, deleted, _busy = (create_endpoint(client, tenant=t) for t in ("a", "b", "c"))
    by_tenant = {
        t: send_event(client, tenant=t).get_json()["deliveries"][0]["id"] for t in ("a", "b", "c")
    }
    for tenant in ("a", "b"):
        set_row(engine, "deliveries", by_tenant[tenant], status="failed")
    client.patch(f"/v1/endpoints/{disabled['id']}", json={"enabled": False})
    client.delete(f"/v1/endpoints/{deleted['id']}")
    lease = utcnow() + timedelta(seconds=30)
    set_row(engine, "deliveries", by_tenant["c"], lease_token="tok", lease_expires_at=lease)
    queued_before = queued_delivery_ids(redis_url)

    for delivery_id in by_tenant.values():
        problem(client.post(f"/v1/deliveries/{delivery_id}/retry"), 409)

    assert [row(engine, "deliveries", by_tenant[t])["status"] for t in "abc"] == [
        "failed",
        "failed",
        "pending",
    ]
    assert queued_delivery_ids(redis_url) == queued_before
