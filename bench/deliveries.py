"""Deliveries per second through real workers, against a raw `requests` loop to the same receiver.

Two worker processes x 25 threads (as production runs them: threads pool, one process per
core) on Redis and on RabbitMQ, to a receiver that answers at once and to one that takes
50 ms. Each delivery is a claim in PostgreSQL, a signed POST and a record; the service is
timed from the first enqueue to the last `succeeded` in SQL. The baseline POSTs the same
body with the same headers, as many times, from 50 threads with a `requests.Session` each.
"""

import sys
import threading
import time
from datetime import UTC, datetime

import requests
from sqlalchemy import Engine, func, select, text

from bench import seed
from bench.measurement import Measurement, Size, median_of, pick, repeats
from bench.receiver import Receiver, receiver
from bench.support import DEFAULT_POSTGRES, broker, child_env, throwaway_database, wait_for, workers
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.models import Delivery
from webhooks.security.signing import generate_secret, webhook_headers
from worker.dispatch import CeleryDispatcher

BODY = b'{"type":"bench.event","timestamp":"2026-11-26T16:36:19.123Z","data":{"n":1}}'
WORKERS = 2
THREADS = 25
ENDPOINTS = 10  # spread over a few endpoints, as real traffic is


def run(size: Size) -> list[Measurement]:
    """Fast and 50 ms receivers, Redis and RabbitMQ, against the raw loop."""
    count = pick(size, smoke=20, quick=1000, full=3000)
    processes = pick(size, smoke=1, quick=WORKERS, full=WORKERS)
    times = repeats(size)
    found = []
    with (
        throwaway_database(DEFAULT_POSTGRES) as database_url,
        receiver() as fast,
        receiver(0.05) as slow,
    ):
        engine = make_engine(database_url)
        # The 50 ms receiver takes at least 1 s per 1,000 deliveries: half as many.
        runs = (
            (fast, count, "fast receiver", "≥ 0.5"),
            (slow, count // 2, "50 ms receiver", "≥ 0.8"),
        )
        raw = {target: median_of(times, baseline, target.url(), n) for target, n, _, _ in runs}
        # One sealing key for both brokers: the endpoints the first run sealed stay in the
        # database, and a worker refuses to start beside values it cannot unseal.
        sealing = child_env()["WEBHOOKS_ENCRYPTION_KEYS"]
        # The smoke run checks the benchmark runs, on the default broker only.
        for name in ("redis",) if size == "smoke" else ("redis", "rabbitmq"):
            with broker(name) as broker_url:
                env = child_env(
                    WEBHOOKS_ENCRYPTION_KEYS=sealing,
                    DATABASE_URL=database_url,
                    BROKER_URL=broker_url,
                    WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
                    WEBHOOKS_WORKER_CONCURRENCY=str(THREADS),
                )
                with workers(processes, env, concurrency=THREADS):
                    for target, n, label, target_ratio in runs:
                        ours = median_of(times, service, engine, env, target, n)
                        found.append(
                            Measurement(
                                f"deliveries/s, {name}, {processes} workers x {THREADS}"
                                f" threads, {label}",
                                n / ours,
                                "/s",
                                n / raw[target],
                                f"raw `requests` loop, {WORKERS * THREADS} threads",
                                target_ratio,
                            )
                        )
        engine.dispose()
    return found


def baseline(url: str, count: int, threads: int = WORKERS * THREADS) -> float:
    """Seconds for `count` POSTs from `threads` threads, one requests.Session each."""
    headers = {
        "content-type": "application/json",
        **webhook_headers([generate_secret()], "evt_bench", BODY),
    }
    shares = [count // threads + (i < count % threads) for i in range(threads)]
    start = threading.Barrier(threads + 1)
    failures: list[int] = []

    def post(share: int) -> None:
        with requests.Session() as session:
            start.wait()
            for _ in range(share):
                if session.post(url, data=BODY, headers=headers, timeout=15).status_code != 200:
                    failures.append(1)

    threads_ = [threading.Thread(target=post, args=(share,)) for share in shares]
    for thread in threads_:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads_:
        thread.join()
    if failures:
        sys.exit(f"baseline: {len(failures)} POSTs failed")
    return time.perf_counter() - began


def service(engine: Engine, env: dict[str, str], target: Receiver, count: int) -> float:
    """Seconds from the first enqueue to the last `succeeded`, through the running workers."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE attempts, deliveries, events, endpoints"))
    seed.endpoints(engine, Settings.from_env(env), target.url(), ENDPOINTS)
    ids = seed.events(engine, max(1, count // ENDPOINTS))
    dispatcher = CeleryDispatcher.from_settings(Settings.from_env(env))
    began = time.time()
    if dispatcher.enqueue(ids):
        sys.exit("could not enqueue the deliveries")
    dispatcher.app.close()

    def done() -> bool:
        with engine.connect() as conn:
            succeeded = conn.scalar(select(func.count()).where(Delivery.status == "succeeded"))
        return succeeded == len(ids)

    wait_for(done, 600, f"{len(ids)} deliveries to succeed", interval=0.2)
    with engine.connect() as conn:
        last: datetime | None = conn.scalar(select(func.max(Delivery.updated_at)))
    assert last is not None
    # When the last success was recorded, not when this loop noticed it.
    finished = last if last.tzinfo else last.replace(tzinfo=UTC)
    return (finished.timestamp() - began) * count / len(ids)
