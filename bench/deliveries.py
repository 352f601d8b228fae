"""Deliveries per second through a real worker, against raw POSTs to the same receiver.

    .venv/bin/python -m bench.deliveries [--events 2000] [--concurrency 50]

Both sides POST the same body to the same asyncio receiver with the same number of threads:
the baseline from a bare `requests` client, the service from a real Celery worker (threads
pool) claiming, signing, sending and recording each delivery in PostgreSQL. The service is
timed from the first enqueue to the last delivery marked `succeeded`.
"""

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import requests
from sqlalchemy import func, select

from api import create_app
from bench.support import (
    DEFAULT_POSTGRES,
    ROOT,
    child_env,
    fast_receiver,
    private_redis,
    process,
    rate,
    throwaway_database,
    wait_for,
)
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.models import Delivery
from webhooks.security.signing import generate_secret, webhook_headers
from worker.dispatch import CeleryDispatcher

BODY = b'{"type":"bench.event","timestamp":"2026-11-26T16:36:19.123Z","data":{"n":1}}'


class _Collect:
    """A dispatcher that only remembers ids: the benchmark enqueues them all at once later."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        self.ids.extend(delivery_ids)
        return []

    def ping(self) -> None:
        pass


def baseline(url: str, count: int, threads: int) -> float:
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

    workers = [threading.Thread(target=post, args=(share,)) for share in shares]
    for thread in workers:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in workers:
        thread.join()
    if failures:
        sys.exit(f"baseline: {len(failures)} POSTs failed")
    return time.perf_counter() - began


def service(
    url: str, count: int, concurrency: int, workers: int, database_url: str, redis_url: str
) -> float:
    """Seconds from the first enqueue to the last `succeeded`, through real workers."""
    env = child_env(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        WEBHOOKS_API_KEYS="bench",
        WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
        WEBHOOKS_WORKER_CONCURRENCY=str(concurrency),
    )
    settings = Settings.from_env(env)
    collect = _Collect()
    client = create_app(settings, dispatcher=collect).test_client()
    auth = {"Authorization": "Bearer bench"}
    created = client.post("/v1/endpoints", json={"url": url}, headers=auth)
    assert created.status_code == 201, created.json
    for n in range(count):
        client.post("/v1/events", json={"type": "bench.event", "data": {"n": n}}, headers=auth)
    assert len(collect.ids) == count, len(collect.ids)
    engine = make_engine(database_url)
    with ExitStack() as stack:
        for number in range(workers):
            log = Path("/tmp") / f"bench-worker-{number}.log"
            command = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
            command += ["--loglevel", "INFO", "-n", f"bench{number}@%h"]
            command += ["--without-mingle", "--without-gossip"]
            stack.enter_context(process(command, env, log))
            wait_for(partial(_ready, log), 60, f"a worker (see {log})")
        began = time.time()
        unsent = CeleryDispatcher.from_settings(settings).enqueue(collect.ids)
        assert not unsent, f"{len(unsent)} tasks not enqueued"

        def done() -> bool:
            with engine.connect() as conn:
                succeeded = conn.scalar(select(func.count()).where(Delivery.status == "succeeded"))
            return succeeded == count

        wait_for(done, 600, f"{count} deliveries to succeed (see {log})", interval=0.2)
    with engine.connect() as conn:
        last: datetime | None = conn.scalar(select(func.max(Delivery.updated_at)))
    engine.dispose()
    assert last is not None
    # When the last success was recorded, not when this loop noticed it.
    finished = last if last.tzinfo else last.replace(tzinfo=UTC)
    return finished.timestamp() - began


def _ready(log: Path) -> bool:
    return b" ready." in log.read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50, help="threads per worker")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="where to create a database")
    args = parser.parse_args()
    print(f"{args.events} deliveries, {args.concurrency} threads, from {ROOT}")
    with (
        fast_receiver() as url,
        private_redis() as redis_url,
        throwaway_database(args.postgres) as database_url,
    ):
        # Warm the receiver and the loopback path, then measure.
        baseline(url, min(200, args.events), args.concurrency)
        raw = baseline(url, args.events, args.concurrency)
        ours = service(url, args.events, args.concurrency, args.workers, database_url, redis_url)
    print(f"baseline  requests, {args.concurrency} threads     {rate(args.events, raw)}")
    label = f"{args.workers} worker(s) -P threads -c {args.concurrency}"
    print(f"service   {label:<29} {rate(args.events, ours)}")
    print(f"ratio     service / baseline        {raw / ours:8.3f}")


if __name__ == "__main__":
    main()
