"""Fairness under faults: a Redis broker that forgets its messages, a worker killed while it
holds an endpoint's only slot. Redis only: RabbitMQ's quorum queues keep their messages, and
the slots live in the Redis at REDIS_URL whatever the broker."""

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.conftest import API_KEY
from tests.support.api import (
    attempts_of,
    create_endpoint,
    keyed_client,
    post_event,
    wait_for_delivery,
)
from tests.support.faults import RedisServer, assert_sent_once_per_attempt, wait_for_deliveries
from tests.support.processes import CeleryProcess, start_worker
from tests.support.receiver import Receiver, Reply

pytestmark = [
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

BURST = 200
INTERVAL = 0.5  # WEBHOOKS_SCHEDULER_INTERVAL_SECONDS of the shared `env`


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A private Redis this test may flush."""
    server = RedisServer(tmp_path).start()
    yield server
    server.kill()


@pytest.fixture
def broker_url(server: RedisServer) -> str:
    """Every process uses the private Redis as its broker."""
    return server.url()


@pytest.mark.usefixtures("worker", "beat")
def test_flushall_mid_burst_is_recovered_within_two_passes(
    client: FlaskClient,
    engine: Engine,
    receiver: Receiver,
    server: RedisServer,
    env: dict[str, str],
) -> None:
    """FLUSHALL with a backlog queued: the rest arrives within two scheduler passes plus the
    sending, not after a lease (30 s here), and every attempt is sent once."""
    receiver.script("/hook", Reply(200, delay=0.05))
    create_endpoint(client, receiver.url("/hook"), max_in_flight=8)
    event_ids = {post_event(client, data={"n": n})["id"] for n in range(BURST)}

    server.flushall()
    flushed = time.time()
    wait_for_deliveries(engine, "succeeded", BURST, timeout=60)

    last = max(r.at for r in receiver.received("/hook"))
    # Two passes (1 s) and the sending of what was left (8 threads x 50 ms: about 1.3 s).
    assert last - flushed < 2 * INTERVAL + 5, f"the last arrived {last - flushed:.1f}s after"
    assert_sent_once_per_attempt(engine, receiver.received("/hook"), event_ids)


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    """A lease far longer than two passes: recovery by it would fail the first test."""
    return {**env, "WEBHOOKS_LEASE_SECONDS": "30"}


def test_slot_of_a_killed_worker_is_released(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """`max_in_flight: 1` and the worker killed mid-attempt: the slot's lease frees it, and the
    deliveries waiting behind it all go out."""
    receiver.script("/hook", Reply(200, delay=60), Reply(200))
    create_endpoint(client, receiver.url("/hook"), max_in_flight=1)
    events = [post_event(client) for _ in range(3)]
    delivery_of = {event["id"]: event["deliveries"][0]["id"] for event in events}
    (hung,) = receiver.wait_for(1, "/hook")
    time.sleep(0.5)  # the others are held behind the one slot (the hung one times out at 2 s)
    assert len(receiver.received("/hook")) == 1

    worker.kill()
    replacement = start_worker(worker.env)
    try:
        # The slot's lease (timeout + 2 s) and the SQL lease (30 s) run out; then all go.
        for delivery_id in delivery_of.values():
            wait_for_delivery(client, delivery_id, "succeeded", timeout=60)
    finally:
        replacement.kill()
    first = delivery_of.pop(hung.headers["webhook-id"])
    assert [a["error"] for a in attempts_of(client, first)] == ["worker_lost", None]
    for delivery_id in delivery_of.values():
        assert len(attempts_of(client, delivery_id)) == 1


def test_workers_survive_redis_restarts_under_load(
    app: Flask,
    engine: Engine,
    receiver: Receiver,
    server: RedisServer,
    worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """The broker restarted eight times while events stream in: both workers live on, and
    everything arrives. (kombu's Redis transport stopped a worker now and then.)"""
    workers = [worker, start_worker(worker.env)]
    create_endpoint(keyed_client(app, API_KEY), receiver.url("/hook"), max_in_flight=16)
    event_ids: set[str] = set()
    streaming = threading.Event()
    streaming.set()

    def stream() -> None:
        client = keyed_client(app, API_KEY)  # its own: clients are not shared between threads
        while streaming.is_set():
            event_ids.add(post_event(client)["id"])

    sender = threading.Thread(target=stream)
    sender.start()
    try:
        for _ in range(8):
            time.sleep(0.7)
            server.kill()
            server.start()
    finally:
        streaming.clear()
        sender.join()
    try:
        wait_for_deliveries(engine, "succeeded", len(event_ids), timeout=60)
        assert [w.process is not None and w.process.poll() for w in workers] == [None, None]
    finally:
        workers[1].kill()
    assert_sent_once_per_attempt(engine, receiver.received("/hook"), event_ids)
