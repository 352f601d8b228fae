"""The service against the Celery-only floor: the same workers, a task that only POSTs.

Both run two worker processes x 25 threads on the same Redis, with the same Celery
configuration (bench/floor.py), to the same fast receiver. The floor is what a webhook sender
built on Celery costs before it claims, signs or records anything: the overhead of doing so
is the gap. Then django-webhook, a Celery-based peer, as it ships (bench/django_peer.py; not in
the smoke run, which would have to install it).
"""

import time
import uuid

from bench import deliveries, django_peer
from bench.floor import POST
from bench.measurement import Measurement, Size, median_of, pick, repeats
from bench.receiver import Receiver, receiver
from bench.support import (
    DEFAULT_POSTGRES,
    child_env,
    private_redis,
    throwaway_database,
    wait_for,
    workers,
)
from webhooks.config import Settings
from webhooks.db import make_engine
from worker.dispatch import CeleryDispatcher

WORKERS = 2
THREADS = 25


def run(size: Size) -> list[Measurement]:
    """Deliveries per second, the service against the floor."""
    count = pick(size, smoke=20, quick=1000, full=3000)
    processes = pick(size, smoke=1, quick=WORKERS, full=WORKERS)
    times = repeats(size)
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
        )
        with workers(processes, env, app="bench.floor", concurrency=THREADS):
            floor(env, target, min(count, 100))  # warm-up
            floor_seconds = median_of(times, floor, env, target, count)
        engine = make_engine(database_url)
        with workers(processes, env, concurrency=THREADS):
            deliveries.service(engine, env, target, min(count, 100))  # warm-up
            ours = median_of(times, deliveries.service, engine, env, target, count)
        engine.dispose()
        found = [
            Measurement(
                f"peer: this service, deliveries/s, {processes} workers x {THREADS} threads",
                count / ours,
                "/s",
                count / floor_seconds,
                "Celery task that only POSTs",
            )
        ]
        interpreter = django_peer.python() if size != "smoke" else None
        if interpreter is None:
            print("   django-webhook: not measured (smoke run, or it did not install)")
            return found
        with (
            throwaway_database(DEFAULT_POSTGRES) as peer_database,
            django_peer.project(interpreter, peer_database, redis_url) as peer_env,
        ):
            theirs = median_of(
                times, django_peer.deliveries_per_second, interpreter, peer_env, target, count,
                processes, THREADS,
            )  # fmt: skip
    return [
        *found,
        Measurement(
            f"peer: this service against django-webhook 0.0.15 (as it ships), {processes}"
            f" workers x {THREADS} threads",
            count / ours,
            "/s",
            theirs,
            "django-webhook, same run",
        ),
    ]


def floor(env: dict[str, str], target: Receiver, count: int) -> float:
    """Seconds from publishing `count` POST-only tasks to the last arrival."""
    dispatcher = CeleryDispatcher.from_settings(Settings.from_env(env))
    body = '{"type":"bench.event","data":{"n":1}}'
    target.reset()
    tasks = [(POST, [target.url(f"/{n % 10}"), str(uuid.uuid4()), body]) for n in range(count)]
    began = time.time()
    dispatcher.publish(tasks)
    dispatcher.app.close()
    wait_for(lambda: target.stats().count >= count, 600, f"{count} arrivals", interval=0.1)
    last = target.stats().last
    assert last is not None
    return last - began
