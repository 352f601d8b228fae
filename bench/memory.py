"""Worker memory: flat from 10k to 100k deliveries; 100k parked retries cost the worker nothing.

Two worker processes deliver 10k deliveries, then 90k more, to a fast receiver; the figure is
the larger worker's resident memory after each. Then, with a scheduler pass every second,
the same workers idle for a while with nothing pending and again with 100k deliveries parked
in SQL for an hour-long retry: their memory and CPU time over the same window.
"""

import sys
import time
from datetime import timedelta

import redis
from sqlalchemy import Engine, func, select, text

from bench import seed
from bench.measurement import Measurement, Size, pick
from bench.receiver import receiver
from bench.support import (
    DEFAULT_POSTGRES,
    LOGS,
    child_env,
    cpu_seconds,
    private_redis,
    process,
    rss_mb,
    throwaway_database,
    wait_for,
    workers,
)
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.models import Delivery
from worker.dispatch import CeleryDispatcher
from worker.names import DELIVERY_QUEUE

WORKERS = 2
THREADS = 25
ENDPOINTS = 100
AHEAD = 5000  # deliveries queued and not yet delivered, at most


def run(size: Size) -> list[Measurement]:
    """RSS after N and 10 N deliveries; RSS and CPU idle, with and without parked retries."""
    first, total = pick(size, smoke=(100, 300), quick=(1000, 5000), full=(10000, 100000))
    window = pick(size, smoke=2.0, quick=3.0, full=10.0)
    with (
        receiver() as target,
        private_redis() as redis_url,
        throwaway_database(DEFAULT_POSTGRES) as database_url,
    ):
        env = child_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
            WEBHOOKS_WORKER_CONCURRENCY=str(THREADS),
            WEBHOOKS_SCHEDULER_INTERVAL_SECONDS="1",
        )
        engine = make_engine(database_url)
        seed.endpoints(engine, Settings.from_env(env), target.url(), ENDPOINTS)
        dispatcher = CeleryDispatcher.from_settings(Settings.from_env(env))
        beat = [*_celery("beat", "--schedule", str(LOGS / "bench-celerybeat-schedule"))]
        with (
            workers(WORKERS, env, concurrency=THREADS) as running,
            process(beat, env, LOGS / "bench-beat.log"),
        ):
            pids = [worker.pid for worker in running]
            deliver(engine, dispatcher, first)
            after_first = max(rss_mb(pid) for pid in pids)
            deliver(engine, dispatcher, total - first)
            after_total = max(rss_mb(pid) for pid in pids)

            # Anything the scheduler queued twice is drained before measuring idle.
            wait_for(lambda: _queued(redis_url) == 0, 1800, "the queue to drain", interval=0.5)
            with engine.begin() as conn:
                conn.execute(text("TRUNCATE attempts, deliveries, events"))
            idle_rss, idle_cpu = idle(pids, window)
            parked = seed.events(engine, total // ENDPOINTS)
            seed.park(engine, parked, timedelta(hours=1))
            parked_rss, parked_cpu = idle(pids, window)
        dispatcher.app.close()
        engine.dispose()
    return [
        Measurement(
            f"worker RSS after {total:,} deliveries",
            after_total,
            "MB",
            after_first,
            f"after {first:,}",
            "≤ 1.1 (flat)",
        ),
        Measurement(
            f"worker RSS, {total:,} deliveries parked for a long retry",
            parked_rss,
            "MB",
            idle_rss,
            "nothing parked",
            "≈ 1",
        ),
        Measurement(
            f"worker CPU over {window:.0f} s of scheduler passes, {total:,} parked",
            parked_cpu,
            "s",
            idle_cpu,
            "nothing parked",
            "≈ 1",
        ),
    ]


def deliver(engine: Engine, dispatcher: CeleryDispatcher, count: int) -> None:
    """Store `count` more deliveries, queue them, and wait until they all succeeded."""
    before = _succeeded(engine)
    for start in range(0, count, 10 * ENDPOINTS):
        # Queued at most AHEAD in front of the workers: older than a lease, a message is
        # presumed lost and queued again by the scheduler, and the duplicates cost time.
        _wait_for_succeeded(engine, before + start - AHEAD, 600)
        ids = seed.events(engine, min(10, (count - start) // ENDPOINTS))
        if dispatcher.enqueue(ids):
            raise RuntimeError("could not enqueue deliveries")
    _wait_for_succeeded(engine, before + count, 1800)


def _wait_for_succeeded(engine: Engine, count: int, timeout: float) -> None:
    wait_for(
        lambda: _succeeded(engine) >= count, timeout, f"{count} deliveries to succeed", interval=0.2
    )


def _succeeded(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).where(Delivery.status == "succeeded")) or 0


def idle(pids: list[int], window: float) -> tuple[float, float]:
    """The workers' largest RSS and their total CPU seconds over `window` seconds."""
    cpu = sum(cpu_seconds(pid) for pid in pids)
    time.sleep(window)
    return max(rss_mb(pid) for pid in pids), sum(cpu_seconds(pid) for pid in pids) - cpu


def _queued(redis_url: str) -> int:
    """Messages waiting in the delivery queue or reserved by a worker."""
    client = redis.Redis.from_url(redis_url)
    try:
        return int(client.llen(DELIVERY_QUEUE)) + int(client.hlen("unacked"))
    finally:
        client.close()


def _celery(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker", *args, "--loglevel", "INFO"]
