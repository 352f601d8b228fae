"""PostgreSQL restarts or stops under the service: the worker reconnects, the API answers 503."""

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, func, select, text

from tests.support.api import create_endpoint, json_body, post_event, problem, send_event
from tests.support.faults import (
    PostgresCluster,
    assert_attempts_consistent,
    ids_received,
    wait_for_deliveries,
)
from tests.support.processes import CeleryProcess, start_worker
from tests.support.receiver import Receiver, Reply
from webhooks.config import normalize_database_url
from webhooks.migrate import upgrade
from webhooks.models import deliveries_table as deliveries
from webhooks.models import events_table as events

pytestmark = pytest.mark.slow

CONCURRENCY = 16


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    """A private PostgreSQL cluster, so that restarting it disturbs nobody else."""
    server = PostgresCluster()
    try:
        server.init().start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def database_url(cluster: PostgresCluster) -> str:
    """A fresh, migrated database on the private cluster (running, whatever the last test did)."""
    if not cluster.running():
        cluster.start()
    name = f"faults_{secrets.token_hex(4)}"
    admin = create_engine(normalize_database_url(cluster.url()), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = normalize_database_url(cluster.url(name))
    upgrade(url)
    return url


def test_postgres_restart_while_delivering_loses_nothing(
    env: dict[str, str],
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    cluster: PostgresCluster,
    beat: CeleryProcess,
) -> None:
    """PostgreSQL restarted mid-burst: the worker reconnects and every delivery succeeds."""
    receiver.script("/hook", Reply(200, delay=0.2))
    create_endpoint(client, receiver.url("/hook"))
    event_ids = {post_event(client, data={"n": n})["id"] for n in range(150)}
    worker = start_worker(env, concurrency=CONCURRENCY)
    try:
        receiver.wait_for(30, "/hook", timeout=60)
        before = len(receiver.received("/hook"))
        cluster.restart()
        restarted_at = time.monotonic()
        assert before < len(event_ids), "the burst was over before the restart"

        wait_for_deliveries(engine, "succeeded", len(event_ids), timeout=90)
        recovered = time.monotonic() - restarted_at
        assert worker.process is not None and worker.process.poll() is None
    finally:
        worker.kill()
    counts = ids_received(receiver.received("/hook"))
    assert set(counts) == event_ids
    audit = assert_attempts_consistent(engine, late_records=True)
    duplicates = sum(1 for n in counts.values() if n > 1)
    # A second success in the audit is a request the receiver really got twice.
    twice = sum(1 for found in audit.values() if [a.outcome for a in found].count("success") > 1)
    assert twice <= duplicates
    # Attempts in flight during the restart retry their record for half a lease, so a quick
    # restart costs no duplicate; a slower one re-sends at most one attempt per thread.
    assert duplicates <= CONCURRENCY
    print(
        f"\n[PostgreSQL restart] all delivered {recovered:.1f}s after the restart;"
        f" {duplicates} duplicates"
    )


def test_api_with_the_database_down_answers_503_and_leaves_no_partial_rows(
    client: FlaskClient, engine: Engine, receiver: Receiver, cluster: PostgresCluster
) -> None:
    """POST /v1/events gets 503 problem+json while PostgreSQL is down, even mid-transaction."""
    for path in ("/a", "/b", "/c"):
        create_endpoint(client, receiver.url(path))

    cluster.stop()
    problem(send_event(client), 503)
    assert json_body(client.get("/readyz"), 503)["database"] == "unavailable"
    cluster.start()

    # Crash the server (no clean shutdown) while events keep coming in.
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    crash = threading.Thread(target=lambda: cluster.stop("immediate"))
    for n in range(400):
        if n == 20:
            crash.start()
        response = send_event(client, data={"n": n})
        statuses[response.status_code] += 1
        assert response.status_code in (202, 503), response.json
        if response.status_code == 202:
            accepted.append(json_body(response, 202)["id"])
        else:
            problem(response, 503)  # a problem document even when the crash cut a transaction
            if statuses[503] >= 20:
                break
    crash.join()
    assert statuses[503] >= 1, statuses
    cluster.start()

    # Back: the same app serves again without a restart of its own.
    accepted.append(post_event(client)["id"])
    with engine.connect() as conn:
        fanout: dict[str, int] = dict(
            conn.execute(
                select(events.c.id, func.count(deliveries.c.id))
                .outerjoin(deliveries, deliveries.c.event_id == events.c.id)
                .group_by(events.c.id)
            ).all()
        )
    # Each event is there with all three deliveries, or not at all.
    assert set(fanout.values()) == {3}, fanout
    assert set(accepted) <= set(fanout)
    print(f"\n[PostgreSQL crash at the API] answers: {dict(statuses)}")
