"""Latency at 100 events per second: from the API accepting an event to its webhook's arrival.

Events go to the API (Procfile web command) at a steady 100 per second, each to one
endpoint; two workers x 25 threads deliver. Accepted is the event's `created_at` (the API's
clock, as it answers); receipt is when the receiver read the request. The floor publishes
a Celery task that only POSTs at the same pace, timed from just before each publish.
"""

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

import requests

from bench import seed
from bench.floor import POST
from bench.measurement import Measurement, Size, percentile, pick
from bench.receiver import Receiver, receiver
from bench.support import (
    DEFAULT_POSTGRES,
    LOGS,
    child_env,
    private_redis,
    throwaway_database,
    wait_for,
    web_server,
    workers,
)
from webhooks.config import Settings
from webhooks.db import make_engine
from worker.dispatch import CeleryDispatcher

KEY = "bench"
RATE = 100
WORKERS = 2
THREADS = 25
SENDERS = 4  # client threads, so one slow answer does not hold up the pace
BODY = '{"type":"bench.event","timestamp":"2026-11-26T16:36:19.123Z","data":{"n":1}}'


def run(size: Size) -> list[Measurement]:
    """p50 and p99 of accepted -> receipt, against the Celery-only floor."""
    seconds = pick(size, smoke=1, quick=3, full=20)
    processes = pick(size, smoke=1, quick=WORKERS, full=WORKERS)
    with (
        receiver() as target,
        private_redis() as redis_url,
        throwaway_database(DEFAULT_POSTGRES) as database_url,
    ):
        env = child_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WEBHOOKS_API_KEYS=KEY,
            WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
            WEBHOOKS_WORKER_CONCURRENCY=str(THREADS),
        )
        engine = make_engine(database_url)
        seed.endpoints(engine, Settings.from_env(env), target.url(), 1)
        engine.dispose()
        with (
            web_server("api:create_app", env, LOGS / "bench-web-latency.log") as url,
            workers(processes, env, concurrency=THREADS),
        ):
            service(url, target, 1)  # warm-up
            ours = service(url, target, seconds)
        floor = floor_run(env, target, seconds, processes)
    found = []
    for name, fraction, target_ratio in (("p50", 0.5, ""), ("p99", 0.99, "≤ 2")):
        found.append(
            Measurement(
                f"latency at {RATE} events/s, accepted -> receipt, {name}",
                percentile(ours, fraction) * 1000,
                "ms",
                percentile(floor, fraction) * 1000,
                "Celery task that only POSTs",
                target_ratio,
            )
        )
    return found


def service(url: str, target: Receiver, seconds: float) -> list[float]:
    """Send RATE events a second for `seconds`; return each one's accepted -> receipt."""
    target.reset()
    accepted: dict[str, float] = {}
    lock = threading.Lock()

    def send(session: requests.Session) -> None:
        response = session.post(
            url + "/v1/events",
            json={"type": "bench.event", "data": {"n": 1}},
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        response.raise_for_status()
        body = response.json()
        created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
        with lock:
            accepted[body["id"]] = created.timestamp()

    _paced(send, seconds)
    return _latencies(target, accepted)


def floor_run(env: dict[str, str], target: Receiver, seconds: float, processes: int) -> list[float]:
    """Publish RATE POST-only tasks a second; return each one's publish -> receipt."""
    dispatcher = CeleryDispatcher.from_settings(Settings.from_env(env))
    published: dict[str, float] = {}
    lock = threading.Lock()

    def send(_: requests.Session) -> None:
        message_id = str(uuid.uuid4())
        began = time.time()
        dispatcher.publish([(POST, [target.url(), message_id, BODY])])
        with lock:
            published[message_id] = began

    with workers(processes, env, app="bench.floor", concurrency=THREADS):
        _paced(send, 1)  # warm-up
        _latencies(target, published)  # every warm-up message in, before the reset
        target.reset()
        published.clear()
        _paced(send, seconds)
        found = _latencies(target, published)
    dispatcher.app.close()
    return found


def _paced(send: Callable[[requests.Session], None], seconds: float) -> None:
    """Call `send` RATE times a second for `seconds`, spread over SENDERS threads."""
    total = round(RATE * seconds)
    start = time.monotonic() + 0.1

    def sender(offset: int) -> None:
        with requests.Session() as session:
            for n in range(offset, total, SENDERS):
                pause = start + n / RATE - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                send(session)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _latencies(target: Receiver, sent: dict[str, float]) -> list[float]:
    """Wait until every message sent arrived; return arrival - sent for each."""
    arrived: dict[str, float] = {}

    def all_in() -> bool:
        arrived.update(target.arrivals())
        return arrived.keys() >= sent.keys()

    wait_for(all_in, 120, f"{len(sent)} arrivals", interval=0.25)
    return [arrived[message_id] - at for message_id, at in sent.items()]
