"""Operations: health, readiness, metrics, and the API with its database or broker down."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support import free_port
from tests.support.api import (
    API_KEY,
    count,
    create_endpoint,
    keyed_client,
    other_app,
    problem,
    queued_delivery_ids,
    row,
    send_event,
    set_row,
)
from webhooks.config import Settings
from webhooks.times import utcnow


@pytest.fixture
def no_broker(settings: Settings) -> Iterator[Flask]:
    """The API with its broker (Redis) on a closed port."""
    with other_app(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0") as app:
        yield app


@pytest.fixture
def no_database(settings: Settings) -> Iterator[Flask]:
    """The API with a database it cannot reach: PostgreSQL on a closed port, or no SQLite file."""
    if settings.database_url.startswith("sqlite"):
        dead = "sqlite:////nonexistent-directory/webhooks.db"
    else:
        dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    with other_app(settings, database_url=dead) as app:
        yield app


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_healthz(app: Flask) -> None:
    """/healthz is 200 {"status": "ok"} without a key."""
    response = app.test_client().get("/healthz")
    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_names_both_as_ok(app: Flask) -> None:
    """/readyz is 200 when the database and the broker answer."""
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "ok"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_readyz_names_the_broker_when_it_is_down(no_broker: Flask) -> None:
    """503 problem naming the broker; the database is still ok."""
    body = problem(no_broker.test_client().get("/readyz"), 503)
    assert (body["database"], body["broker"]) == ("ok", "unavailable")
    assert "broker" in body["detail"] and "database" not in body["detail"]


def test_readyz_names_the_database_when_it_is_down(no_database: Flask) -> None:
    """503 problem naming the database; the broker is still ok."""
    body = problem(no_database.test_client().get("/readyz"), 503)
    assert (body["database"], body["broker"]) == ("unavailable", "ok")
    assert "database" in body["detail"] and "broker" not in body["detail"]


def test_database_down_is_503_and_nothing_is_queued(no_database: Flask, redis_url: str) -> None:
    """Sending an event, or any other call, with the database down: 503 problem, never 500."""
    client = keyed_client(no_database, API_KEY)
    problem(send_event(client), 503)
    problem(client.post("/v1/endpoints", json={"url": "https://example.com/hook"}), 503)
    problem(client.get("/v1/endpoints"), 503)
    problem(client.get("/v1/deliveries/dlv_01aaaaaaaaaaaaaaaaaaaaaaaa"), 503)
    problem(client.get("/metrics"), 503)
    assert queued_delivery_ids(redis_url) == []


def test_broker_down_still_accepts_events_for_the_scheduler(
    no_broker: Flask, engine: Engine, redis_url: str
) -> None:
    """202 with the event and its deliveries stored, their queued mark cleared for the scheduler."""
    client = keyed_client(no_broker, API_KEY)
    create_endpoint(client)
    create_endpoint(client)

    response = send_event(client)

    assert response.status_code == 202
    body = response.get_json()
    assert len(body["deliveries"]) == 2 and count(engine, "events") == 1
    for ref in body["deliveries"]:
        stored = row(engine, "deliveries", ref["id"])
        assert (stored["status"], stored["queued_until"]) == ("pending", None)
        assert stored["next_attempt_at"] <= utcnow()
    assert queued_delivery_ids(redis_url) == []
    # A retry with the broker down is also left to the scheduler.
    set_row(engine, "deliveries", body["deliveries"][0]["id"], status="failed")
    assert client.post(f"/v1/deliveries/{body['deliveries'][0]['id']}/retry").status_code == 202
    assert row(engine, "deliveries", body["deliveries"][0]["id"])["queued_until"] is None


def test_metrics_report_the_backlog_and_endpoints(client: FlaskClient, engine: Engine) -> None:
    """/metrics is Prometheus text with the pending backlog and endpoints by state."""
    create_endpoint(client)
    off = create_endpoint(client)
    client.patch(f"/v1/endpoints/{off['id']}", json={"enabled": False})
    refs = [send_event(client).get_json()["deliveries"][0]["id"] for _ in range(3)]
    set_row(engine, "deliveries", refs[0], next_attempt_at=utcnow() - timedelta(seconds=60))
    set_row(engine, "deliveries", refs[1], next_attempt_at=utcnow() + timedelta(hours=1))
    set_row(engine, "deliveries", refs[2], lease_token="t", lease_expires_at=utcnow())
    set_row(engine, "deliveries", refs[1], held=True)

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    samples = {
        name: float(value)
        for line in response.get_data(as_text=True).splitlines()
        if line and not line.startswith("#")
        for name, value in [line.rsplit(" ", 1)]
    }
    assert samples["webhooks_deliveries_pending"] == 3
    assert samples["webhooks_deliveries_due"] == 2
    assert samples["webhooks_deliveries_in_flight"] == 1
    assert samples["webhooks_deliveries_held"] == 1
    assert 60 <= samples["webhooks_oldest_due_seconds"] < 120
    assert samples['webhooks_endpoints{state="enabled"}'] == 1
    assert samples['webhooks_endpoints{state="disabled"}'] == 1
