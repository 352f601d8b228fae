"""Fairness: a hanging endpoint must not slow the others; rate limits hold; a wait costs nothing.

1. Healthy endpoints (HEALTHY of them, each event to one) at RATE events a second, one worker
   process x 50 threads: alone (the control), then beside one endpoint that never answers
   (delivery timeout 5 s) with a backlog queued before the window, then beside ten. Throughput,
   p50, p99 and max of accepted -> receipt, and the worker's CPU, against the control.
2. Rate limits of 1, 10 and 100 a second, two workers: a burst stored and queued at once (as
   the API does); the arrival rate at the receiver between the first and the last arrival,
   against the limit.
3. A backlog waiting in SQL (due, queued by nobody) for one endpoint limited to 1 a second,
   same two workers, after two scheduler passes: Redis commands a second and the workers' CPU
   over a window, against the same with nothing waiting.
4. A burst queued at once to a fast receiver, two fresh workers, the private Redis killed and
   restarted (empty) once a quarter has arrived: from the restart to the last receipt, against
   two scheduler passes. A delivery that never arrives or a worker that exits is a failure.

The API serves throughout; each scenario starts from an empty database and Redis with fresh
workers and beat. A quick run skips the one-hanging-endpoint scenario (ten is the harder
case), with a 3 s delivery timeout and a scheduler pass every 2 s; a smoke run also runs
parts 2 to 4 on one worker, with a 2 s delivery timeout, a 5 s lease and a scheduler pass
every second.
"""

import subprocess
import time
from dataclasses import dataclass

from sqlalchemy import Engine, text

from bench.hanging import (
    Api,
    Hanging,
    RedisServer,
    all_arrived,
    arrivals,
    delivering,
    enqueue,
    event_id,
    hanging_server,
    restartable_redis,
    store,
)
from bench.measurement import Measurement, Size, percentile, pick
from bench.receiver import Receiver, receiver
from bench.support import (
    DEFAULT_POSTGRES,
    LOGS,
    child_env,
    cpu_seconds,
    throwaway_database,
    wait_for,
    web_server,
)
from webhooks.config import Settings
from webhooks.db import make_engine

RATE = 20  # healthy events a second
HEALTHY = 10
THREADS = 50  # WEBHOOKS_WORKER_CONCURRENCY's default
LIMITS = (1, 10, 100)
WAITING_LIMIT = 1


@dataclass(frozen=True)
class Healthy:
    """What the healthy endpoints saw in one scenario."""

    throughput: float
    latencies: list[float]
    cpu: float
    hanging_requests: int = 0


@dataclass(frozen=True)
class Bench:
    """Everything a part needs: the processes around the service, the API, the sizes."""

    size: Size
    env: dict[str, str]
    engine: Engine
    api: Api
    redis: RedisServer
    fast: Receiver
    hang: Hanging
    processes: int  # worker processes for parts 2 to 4
    interval: int  # WEBHOOKS_SCHEDULER_INTERVAL_SECONDS


def run(size: Size) -> list[Measurement]:
    """The four parts, one API server throughout, fresh workers for each scenario."""
    interval = pick(size, smoke=1, quick=2, full=5)
    # WEBHOOKS_DELIVERY_TIMEOUT_SECONDS: how long a hanging endpoint holds an attempt.
    timeout = pick(size, smoke=2, quick=3, full=5)
    processes = pick(size, smoke=1, quick=2, full=2)
    with (
        receiver() as fast,
        hanging_server() as hang,
        restartable_redis() as redis_server,
        throwaway_database(DEFAULT_POSTGRES) as database_url,
    ):
        env = child_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_server.url,
            WEBHOOKS_API_KEYS="bench",
            WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
            WEBHOOKS_WORKER_CONCURRENCY=str(THREADS),
            WEBHOOKS_DELIVERY_TIMEOUT_SECONDS=str(timeout),
            WEBHOOKS_SCHEDULER_INTERVAL_SECONDS=str(interval),
            # Smoke only: messages lost with Redis are presumed lost after a lease, not a minute.
            **({"WEBHOOKS_LEASE_SECONDS": "5"} if size == "smoke" else {}),
        )
        engine = make_engine(database_url)
        try:
            with web_server("api:create_app", env, LOGS / "bench-web-isolation.log") as url:
                bench = Bench(
                    size, env, engine, Api(url), redis_server, fast, hang, processes, interval
                )
                return [*neighbours(bench), *limits_and_restart(bench)]
        finally:
            engine.dispose()


def neighbours(bench: Bench) -> list[Measurement]:
    """Part 1: the healthy endpoints alone, beside one hanging endpoint, beside ten."""
    backlog = pick(bench.size, smoke=5, quick=200, full=1000)
    control = healthy_load(bench, 0, 0)
    found = []
    for hanging in pick(bench.size, smoke=(10,), quick=(10,), full=(1, 10)):
        ours = healthy_load(bench, hanging, backlog)
        what = (
            f"isolation: {HEALTHY} healthy endpoints at {RATE} events/s beside {hanging}"
            f" hanging endpoint{'s' if hanging > 1 else ''} ({backlog:,} due each),"
            f" 1 worker x {THREADS} threads"
        )
        held = f"hanging endpoints held {ours.hanging_requests:,} requests"
        rows = (
            ("deliveries/s", ours.throughput, control.throughput, "/s", "≥ 0.9"),
            ("p50", _ms(ours, 0.5), _ms(control, 0.5), "ms", ""),
            ("p99", _ms(ours, 0.99), _ms(control, 0.99), "ms", "≤ 1.5"),
            ("max", _ms(ours, 1.0), _ms(control, 1.0), "ms", ""),
            ("worker CPU", ours.cpu, control.cpu, "s", ""),
        )
        for name, service, baseline, unit, target in rows:
            note = held if name == "deliveries/s" else ""
            found.append(
                Measurement(f"{what}: {name}", service, unit, baseline, "alone", target, note)
            )
    return found


def healthy_load(bench: Bench, hanging: int, backlog: int) -> Healthy:
    """RATE events a second to the healthy endpoints, after `backlog` to each hanging one."""
    reset(bench)
    types = [f"bench.healthy.{n}" for n in range(HEALTHY)]
    for n, event_type in enumerate(types):
        bench.api.endpoint(bench.fast.url(f"/hook/{n}"), event_type)
    hangs = [
        bench.api.endpoint(bench.hang.url(f"/hang/{n}"), "bench.hanging") for n in range(hanging)
    ]
    seconds = pick(bench.size, smoke=2, quick=8, full=20)
    with delivering(bench.env, 1, THREADS) as running:
        pids = [worker.pid for worker in running]
        warm = bench.api.paced(types, RATE, 0.5)  # connections opened, code paths warm
        all_arrived(bench.fast, list(warm), 60, "the warm-up events")
        held = bench.hang.requests()
        if backlog:
            # Due and not queued, as parked retries or messages a broker lost are: the
            # scheduler's next pass finds them.
            for endpoint in hangs:
                store(bench.engine, *endpoint, backlog, queued=False)
            time.sleep(bench.interval + 1)
        bench.fast.reset()
        cpu = _cpu(pids)
        accepted = bench.api.paced(types, RATE, seconds)
        arrived = all_arrived(bench.fast, list(accepted), seconds + 120, "healthy events")
        cpu = _cpu(pids) - cpu
        held = bench.hang.requests() - held
    latencies = [arrived[message_id] - at for message_id, at in accepted.items()]
    span = max(arrived.values()) - min(accepted.values())
    return Healthy(len(accepted) / span, latencies, cpu, held)


def limits_and_restart(bench: Bench) -> list[Measurement]:
    """Parts 2 and 3 with the same workers (two, one in smoke), then part 4 with fresh ones."""
    reset(bench)
    with delivering(bench.env, bench.processes, THREADS) as running:
        found = [rate_limit(bench, limit) for limit in LIMITS]
        found += waiting(bench, [worker.pid for worker in running])
    reset(bench)
    with delivering(bench.env, bench.processes, THREADS) as running:
        found.append(redis_restart(bench, running))
    return found


def rate_limit(bench: Bench, limit: int) -> Measurement:
    """Part 2: a burst to one endpoint limited to `limit` a second; the achieved rate."""
    seconds = pick(bench.size, smoke=1, quick=3, full=15)
    count = max(3, limit * seconds + 1)
    event_type = f"bench.limited.{limit}"
    endpoint = bench.api.endpoint(bench.fast.url(f"/limited/{limit}"), event_type, rate_limit=limit)
    ids = store(bench.engine, *endpoint, count, queued=True)
    bench.fast.reset()
    enqueue(bench.env, ids)
    sent = [event_id(d) for d in ids]
    arrived = sorted(all_arrived(bench.fast, sent, 2 * count / limit + 60, event_type).values())
    achieved = (len(arrived) - 1) / max(arrived[-1] - arrived[0], 1e-3)
    return Measurement(
        f"rate limit {limit}/s: arrivals/s of {count:,} queued at once, {_workers(bench)}",
        achieved,
        "/s",
        limit,
        "the endpoint's rate_limit",
        "0.9 to 1.1",
    )


def redis_restart(bench: Bench, running: list[subprocess.Popen[bytes]]) -> Measurement:
    """Part 4: Redis killed and restarted mid-burst; from the restart to the last receipt.

    A delivery that never arrives, or a worker that exits, is a failure: noted on the row (the
    other parts' figures are kept), with the time waited before giving up as the figure.
    """
    count = pick(bench.size, smoke=100, quick=300, full=500)
    endpoint = bench.api.endpoint(bench.fast.url("/restart"), "bench.restart")
    ids = store(bench.engine, *endpoint, count, queued=True)
    bench.fast.reset()
    enqueue(bench.env, ids)
    wait_for(lambda: bench.fast.stats().count >= count // 4, 60, "a quarter of the burst")
    restarted = bench.redis.restart()
    lease = Settings.from_env(bench.env).lease_seconds  # when lost messages are presumed lost
    sent = [event_id(d) for d in ids]
    timeout = lease + 10 * bench.interval + 60

    def alive() -> bool:
        return any(worker.poll() is None for worker in running)

    arrived = arrivals(bench.fast, sent, timeout, alive)
    exited = sum(worker.poll() is not None for worker in running)
    failures = []
    if len(arrived) < count:
        failures.append(f"{count - len(arrived)} of {count} never arrived")
    if exited:
        failures.append(
            f"{exited} of {len(running)} workers exited (see {LOGS}/bench-worker-*.log)"
        )
    last = time.time() if failures else max(arrived.values())
    return Measurement(
        f"Redis restarted mid-burst of {count}: restart -> last receipt",
        last - restarted,
        "s",
        2 * bench.interval,
        "two scheduler passes",
        "≤ 1 (+ send time)",
        "FAILED: " + "; ".join(failures) if failures else "all arrived",
    )


def waiting(bench: Bench, pids: list[int]) -> list[Measurement]:
    """Part 3: Redis commands and worker CPU, idle and with a backlog for a throttled endpoint."""
    count = pick(bench.size, smoke=1000, quick=10_000, full=100_000)
    window = pick(bench.size, smoke=1, quick=3, full=10)
    time.sleep(bench.interval)  # whatever the rate limits left behind, settled
    idle = _load(bench, pids, window)
    endpoint_id, tenant = bench.api.endpoint(
        bench.fast.url("/waiting"), "bench.waiting", rate_limit=WAITING_LIMIT
    )
    store(bench.engine, endpoint_id, tenant, count, queued=False)
    time.sleep(2 * bench.interval + 1)  # a scheduler pass or two
    busy = _load(bench, pids, window)
    what = f"{count:,} waiting for one endpoint at {WAITING_LIMIT}/s, {_workers(bench)}"
    return [
        Measurement(f"{what}: Redis commands/s", busy[0], "/s", idle[0], "nothing waiting", "≈ 1"),
        Measurement(f"{what}: worker CPU", busy[1], "%", idle[1], "nothing waiting", "≈ 1"),
    ]


def _load(bench: Bench, pids: list[int], window: float) -> tuple[float, float]:
    """Redis commands a second and the workers' CPU (% of one core) over `window` seconds."""
    commands, cpu, began = bench.redis.commands(), _cpu(pids), time.monotonic()
    time.sleep(window)
    wall = time.monotonic() - began
    return (bench.redis.commands() - commands) / wall, (_cpu(pids) - cpu) / wall * 100


def _cpu(pids: list[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def reset(bench: Bench) -> None:
    """No endpoints, events or deliveries; nothing queued or throttled in Redis."""
    with bench.engine.begin() as conn:
        conn.execute(text("TRUNCATE attempts, deliveries, events, endpoints"))
    bench.redis.scrub()


def _ms(healthy: Healthy, fraction: float) -> float:
    return percentile(healthy.latencies, fraction) * 1000


def _workers(bench: Bench) -> str:
    return f"{bench.processes} worker{'s' if bench.processes > 1 else ''}"
