"""Endpoint actions: delete, read and rotate the secret, recover failures, the 24-hour stats."""

import base64
from datetime import UTC, datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    add_attempt,
    count,
    create_endpoint,
    invalid,
    problem,
    row,
    send_event,
    set_row,
)
from tests.support.rows import KEYRING
from webhooks.config import Settings
from webhooks.times import utcnow


def _delivery(client: FlaskClient, endpoint_id: str) -> str:
    """Send an event that reaches `endpoint_id` and return that delivery's id."""
    deliveries = send_event(client).get_json()["deliveries"]
    return str(next(d["id"] for d in deliveries if d["endpoint_id"] == endpoint_id))


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_delete_cancels_pending_and_keeps_the_audit_trail(
    client: FlaskClient, engine: Engine
) -> None:
    """204, then 404 everywhere; pending deliveries cancelled, finished ones and attempts kept."""
    created = create_endpoint(client)
    path = f"/v1/endpoints/{created['id']}"
    pending = _delivery(client, created["id"])
    done = _delivery(client, created["id"])
    set_row(engine, "deliveries", done, status="succeeded", attempt_count=1)
    add_attempt(engine, done, 1, utcnow(), status_code=200, outcome="success")

    response = client.delete(path)

    assert response.status_code == 204 and response.get_data() == b""
    problem(client.get(path), 404)
    problem(client.delete(path), 404)
    problem(client.patch(path, json={"enabled": True}), 404)
    assert client.get("/v1/endpoints").get_json()["data"] == []
    assert client.get(f"/v1/deliveries/{pending}").get_json()["status"] == "cancelled"
    assert client.get(f"/v1/deliveries/{done}").get_json()["status"] == "succeeded"
    (attempt,) = client.get(f"/v1/deliveries/{done}/attempts").get_json()["data"]
    assert attempt["status_code"] == 200 and count(engine, "attempts") == 1
    assert send_event(client).get_json()["deliveries"] == []


def test_secret_is_read_at_its_own_route(client: FlaskClient) -> None:
    """GET .../secret returns exactly the secret issued at creation."""
    created = create_endpoint(client)
    response = client.get(f"/v1/endpoints/{created['id']}/secret")
    assert response.status_code == 200
    assert response.get_json() == {
        "signature_scheme": "hmac-sha256",
        "secret": created["secret"],
        "public_key": None,
    }


def test_rotate_keeps_the_old_secret_for_the_overlap(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """200 with a new secret; the old one is kept until now + the rotation overlap."""
    created = create_endpoint(client)
    before = utcnow()

    response = client.post(f"/v1/endpoints/{created['id']}/secret/rotate")

    assert response.status_code == 200
    new = response.get_json()["secret"]
    assert response.get_json()["public_key"] is None
    assert new != created["secret"] and new.startswith("whsec_")
    assert 24 <= len(base64.b64decode(new[6:], validate=True)) <= 64
    assert client.get(f"/v1/endpoints/{created['id']}/secret").get_json()["secret"] == new
    stored = row(engine, "endpoints", created["id"])
    assert KEYRING.unseal(stored["previous_secret"]) == created["secret"]
    overlap = timedelta(seconds=settings.rotation_overlap_seconds)
    assert before + overlap <= stored["previous_secret_expires_at"] <= utcnow() + overlap
    # A second rotation retires the first secret and keeps the second beside the third.
    third = client.post(f"/v1/endpoints/{created['id']}/secret/rotate").get_json()["secret"]
    assert (
        KEYRING.unseal(row(engine, "endpoints", created["id"])["previous_secret"]) == new != third
    )


def test_recover_requeues_only_this_endpoints_failures_since(
    client: FlaskClient, engine: Engine
) -> None:
    """202 {"requeued": N}: failed deliveries of the endpoint since `since` become due again."""
    target = create_endpoint(client, event_types=["invoice.paid"])
    other = create_endpoint(client, event_types=["invoice.paid"])
    now = utcnow()
    recent, old, succeeded, elsewhere = (
        _delivery(client, target["id"]),
        _delivery(client, target["id"]),
        _delivery(client, target["id"]),
        _delivery(client, other["id"]),
    )
    for delivery_id, status, ended in [
        (recent, "failed", now - timedelta(hours=1)),
        (old, "failed", now - timedelta(days=3)),
        (succeeded, "succeeded", now - timedelta(hours=1)),
        (elsewhere, "failed", now - timedelta(hours=1)),
    ]:
        set_row(
            engine,
            "deliveries",
            delivery_id,
            status=status,
            attempt_count=4,
            next_attempt_at=None,
            queued_until=None,
            updated_at=ended,
        )

    since = (now - timedelta(days=1)).isoformat()
    response = client.post(f"/v1/endpoints/{target['id']}/recover", json={"since": since})

    assert response.status_code == 202
    assert response.get_json() == {"requeued": 1}
    again = row(engine, "deliveries", recent)
    assert again["status"] == "pending" and again["next_attempt_at"] <= utcnow()
    # A fresh run of the schedule whose attempt numbers continue, left to the scheduler.
    assert (again["attempt_count"], again["run_start"], again["queued_until"]) == (4, 4, None)
    assert [row(engine, "deliveries", d)["status"] for d in (old, succeeded, elsewhere)] == [
        "failed",
        "succeeded",
        "failed",
    ]
    # Recovering again finds nothing new to send.
    repeat = client.post(f"/v1/endpoints/{target['id']}/recover", json={"since": since})
    assert repeat.get_json() == {"requeued": 0}


def test_recover_refuses_a_bad_since(client: FlaskClient) -> None:
    """More than 14 days back, in the future, without a zone, or not a time: 422 on since."""
    created = create_endpoint(client)
    path = f"/v1/endpoints/{created['id']}/recover"
    now = utcnow()
    for since in [
        (now - timedelta(days=14, minutes=1)).isoformat(),
        (now + timedelta(minutes=5)).isoformat(),
        "2026-01-01T00:00:00",
        "yesterday",
        "",
        12345678901234,
        None,
    ]:
        assert invalid(client.post(path, json={"since": since})) == [["since"]], since
    assert invalid(client.post(path, json={})) == [["since"]]
    assert invalid(client.post(path, json={"since": now.isoformat(), "all": True})) == [["all"]]
    problem(client.post(path, data="{", content_type="application/json"), 400)
    ok = client.post(path, json={"since": (now - timedelta(days=13)).isoformat()})
    assert ok.status_code == 202


def test_recover_a_disabled_endpoint_is_a_conflict(client: FlaskClient, engine: Engine) -> None:
    """Recovering to a disabled endpoint is 409 and changes nothing."""
    created = create_endpoint(client)
    failed = _delivery(client, created["id"])
    set_row(engine, "deliveries", failed, status="failed", updated_at=utcnow())
    client.patch(f"/v1/endpoints/{created['id']}", json={"enabled": False})

    since = (utcnow() - timedelta(hours=1)).isoformat()
    problem(client.post(f"/v1/endpoints/{created['id']}/recover", json={"since": since}), 409)
    assert row(engine, "deliveries", failed)["status"] == "failed"


def test_stats_count_the_last_day_and_show_the_streak(client: FlaskClient, engine: Engine) -> None:
    """Deliveries by status and attempts by outcome over 24 h, and the failure streak."""
    created = create_endpoint(client)
    create_endpoint(client)  # gets every event too: its traffic is not counted
    now = utcnow()
    ids = [_delivery(client, created["id"]) for _ in range(5)]
    set_row(engine, "deliveries", ids[0], status="succeeded")
    set_row(engine, "deliveries", ids[1], status="failed")
    set_row(engine, "deliveries", ids[2], status="cancelled")
    set_row(engine, "deliveries", ids[3], created_at=now - timedelta(days=2))  # too old to count
    add_attempt(engine, ids[0], 1, now - timedelta(minutes=5), outcome="failure")
    add_attempt(engine, ids[0], 2, now - timedelta(minutes=1), status_code=200, outcome="success")
    add_attempt(engine, ids[1], 1, now - timedelta(minutes=1), outcome="failure")
    add_attempt(engine, ids[3], 1, now - timedelta(days=2), outcome="failure")  # too old
    streak_began = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    set_row(engine, "endpoints", created["id"], failure_count=3, failing_since=streak_began)

    response = client.get(f"/v1/endpoints/{created['id']}/stats")

    assert response.status_code == 200
    stats = response.get_json()
    assert stats["endpoint_id"] == created["id"]
    assert stats["deliveries"] == {"pending": 1, "succeeded": 1, "failed": 1, "cancelled": 1}
    assert stats["attempts"] == {"success": 1, "failure": 2}
    assert stats["failure_streak"] == {"failures": 3, "since": "2026-01-02T03:04:05.678Z"}
    window = _parse(stats["since"])
    assert now - timedelta(hours=24, seconds=5) <= window <= utcnow() - timedelta(hours=24)


def test_stats_of_a_quiet_endpoint_are_zero(client: FlaskClient) -> None:
    """An endpoint with no traffic reports every status and outcome as 0 and no streak."""
    created = create_endpoint(client)
    stats = client.get(f"/v1/endpoints/{created['id']}/stats").get_json()
    assert stats["deliveries"] == {"pending": 0, "succeeded": 0, "failed": 0, "cancelled": 0}
    assert stats["attempts"] == {"success": 0, "failure": 0}
    assert stats["failure_streak"] == {"failures": 0, "since": None}
