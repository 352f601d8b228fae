"""1 event to 1,000 endpoints: how soon the API answers, and when the last webhook arrives.

The API runs under the Procfile's web command, two workers x 25 threads deliver. The floor is
1,000 Celery tasks that only POST (bench/floor.py), published at once on the same broker to
the same number of worker threads: what Celery and an HTTP client alone would take.
"""

import statistics
import sys
import time
import uuid

import requests

from bench import seed
from bench.floor import POST
from bench.measurement import Measurement, Size, pick
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
WORKERS = 2
THREADS = 25
BODY = '{"type":"bench.event","timestamp":"2026-11-26T16:36:19.123Z","data":{"n":1}}'


def run(size: Size) -> list[Measurement]:
    """The API's answer time and the last receipt, against the Celery-only floor."""
    endpoints = pick(size, smoke=20, quick=1000, full=1000)
    rounds = pick(size, smoke=1, quick=2, full=5)
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
        seed.endpoints(engine, Settings.from_env(env), target.url(), endpoints)
        engine.dispose()
        answers, lasts = [], []
        with (
            web_server("api:create_app", env, LOGS / "bench-web-fanout.log") as url,
            workers(processes, env, concurrency=THREADS),
        ):
            fan_out(url, target, endpoints)  # warm-up: pools, caches, the workers' runtime
            for _ in range(rounds):
                answered, last = fan_out(url, target, endpoints)
                answers.append(answered)
                lasts.append(last)
        floor = floor_run(env, target, endpoints, rounds, processes)
    label = f"1 event -> {endpoints:,} endpoints"
    return [
        Measurement(f"fan-out {label}: API answer", statistics.median(answers) * 1000, "ms",
                    target="≤ 100 ms"),
        Measurement(
            f"fan-out {label}: last receipt",
            statistics.median(lasts),
            "s",
            floor,
            f"{endpoints:,} Celery tasks that only POST",
            "≤ 1.2",
        ),
    ]  # fmt: skip


def fan_out(url: str, target: Receiver, endpoints: int) -> tuple[float, float]:
    """POST one event; return how long the API took and when the last webhook arrived."""
    target.reset()
    began = time.time()
    response = requests.post(
        url + "/v1/events",
        json={"type": "bench.event", "data": {"n": 1}},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    answered = time.time() - began
    if response.status_code != 202 or len(response.json()["deliveries"]) != endpoints:
        sys.exit(f"the event was not fanned out: {response.status_code} {response.text[:200]}")
    return answered, _last_arrival(target, endpoints) - began


def floor_run(
    env: dict[str, str], target: Receiver, count: int, rounds: int, processes: int
) -> float:
    """The median time from publishing `count` POST-only tasks to the last arrival."""
    settings = Settings.from_env(env)
    dispatcher = CeleryDispatcher.from_settings(settings)
    times = []
    with workers(processes, env, app="bench.floor", concurrency=THREADS):
        for number in range(rounds + 1):  # the first is a warm-up
            target.reset()
            tasks = [(POST, [target.url(f"/{n}"), str(uuid.uuid4()), BODY]) for n in range(count)]
            began = time.time()
            dispatcher.publish(tasks)
            last = _last_arrival(target, count) - began
            if number:
                times.append(last)
    dispatcher.app.close()
    return statistics.median(times)


def _last_arrival(target: Receiver, count: int) -> float:
    """Wait for `count` arrivals; return the time of the last."""
    wait_for(lambda: target.stats().count >= count, 300, f"{count} arrivals", interval=0.05)
    last = target.stats().last
    assert last is not None
    return last
