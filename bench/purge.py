"""Retention on a million attempt rows: time per batch, and deliveries per second meanwhile.

    .venv/bin/python -m bench purge

A throwaway PostgreSQL database gets a million old attempt rows (four per finished delivery,
one event each, finished 40 days ago; fewer in the quick and smoke runs). One real worker then
delivers fresh deliveries to a fast receiver three times: alone (the baseline), while
`webhooks.retention.purge` deletes the old rows in its default batches, and alone again.
The ratio compares the rate during the purge with the mean of the two rates without it.
"""

import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, func, select, text

from bench.measurement import Measurement, Size, pick
from bench.support import (
    DEFAULT_POSTGRES,
    LOGS,
    child_env,
    fast_receiver,
    private_redis,
    process,
    throwaway_database,
    wait_for,
)
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.models import Attempt, Delivery
from webhooks.retention import Purged, purge
from webhooks.security.sealing import Keyring
from worker.dispatch import CeleryDispatcher

OLD = "now() - interval '40 days'"


def fill_old(engine: Engine, attempts: int, keyring: Keyring) -> None:
    """Old finished deliveries, four attempts each, in a few set-based statements."""
    count = attempts // 4
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO endpoints (id, tenant, url, description, event_types, secret, enabled,"
                " metadata, failure_count, created_at, updated_at) VALUES ('ep_old', 'bench',"
                " 'https://example.com/old', '', '[]', :secret, true, '{}', 0, now(), now())"
            ),
            # Sealed as the service stores secrets: a worker refuses a database with clear ones.
            {"secret": keyring.seal("whsec_" + "A" * 32)},
        )
        conn.execute(
            text(
                "INSERT INTO events (id, tenant, type, payload, created_at)"
                f" SELECT 'evt_old_' || g, 'bench', 'bench.old', '\\x7b7d', {OLD}"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": count},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, tenant, event_id, endpoint_id, status, attempt_count,"
                " run_start, created_at, updated_at)"
                f" SELECT 'dlv_old_' || g, 'bench', 'evt_old_' || g, 'ep_old', 'succeeded', 4, 0,"
                f" {OLD}, {OLD} FROM generate_series(1, :n) AS g"
            ),
            {"n": count},
        )
        conn.execute(
            text(
                "INSERT INTO attempts (id, delivery_id, endpoint_id, number, started_at,"
                " duration_ms, status_code, response_body, outcome)"
                " SELECT 'att_old_' || g || '_' || k, 'dlv_old_' || g, 'ep_old', k,"
                f" {OLD}, 12.5, 500, 'oops', 'failure'"
                " FROM generate_series(1, :n) AS g, generate_series(1, 4) AS k"
            ),
            {"n": count},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def add_live(engine: Engine, url: str, round_: int, count: int, keyring: Keyring) -> list[str]:
    """`count` pending deliveries to the fast receiver, marked queued; return their ids."""
    prefix = f"r{round_}"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO endpoints (id, tenant, url, description, event_types, secret, enabled,"
                " metadata, failure_count, created_at, updated_at) VALUES (:id, 'bench', :url,"
                " '', '[]', :secret, true, '{}', 0, now(), now())"
            ),
            {"id": f"ep_{prefix}", "url": url, "secret": keyring.seal("whsec_" + "A" * 32)},
        )
        conn.execute(
            text(
                "INSERT INTO events (id, tenant, type, payload, created_at)"
                f" SELECT 'evt_{prefix}_' || g, 'bench', 'bench.live',"
                ' convert_to(\'{"type":"bench.live","data":{"n":\' || g || \'}}\', \'UTF8\'),'
                " now() FROM generate_series(1, :n) AS g"
            ),
            {"n": count},
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, tenant, event_id, endpoint_id, status, attempt_count,"
                " run_start, next_attempt_at, queued_until, created_at, updated_at)"
                f" SELECT 'dlv_{prefix}_' || g, 'bench', 'evt_{prefix}_' || g, :endpoint,"
                " 'pending', 0, 0, now(), now(), now(), now() FROM generate_series(1, :n) AS g"
            ),
            {"n": count, "endpoint": f"ep_{prefix}"},
        )
    return [f"dlv_{prefix}_{n}" for n in range(1, count + 1)]


def deliver(engine: Engine, settings: Settings, ids: list[str], endpoint_id: str) -> float:
    """Enqueue `ids`; seconds from the enqueue to the last one recorded as succeeded."""
    began = time.time()
    unsent = CeleryDispatcher.from_settings(settings).enqueue(ids)
    assert not unsent, f"{len(unsent)} not enqueued"
    mine = (Delivery.endpoint_id == endpoint_id, Delivery.status == "succeeded")

    def done() -> bool:
        with engine.connect() as conn:
            return conn.scalar(select(func.count()).where(*mine)) == len(ids)

    wait_for(done, 900, f"{len(ids)} deliveries", interval=0.2)
    with engine.connect() as conn:
        last: datetime | None = conn.scalar(select(func.max(Delivery.updated_at)).where(*mine))
    assert last is not None
    return (last if last.tzinfo else last.replace(tzinfo=UTC)).timestamp() - began


CONCURRENCY = 50


def run(size: Size) -> list[Measurement]:
    """Deliveries per second while purging, against the same worker without a purge."""
    attempts = pick(size, smoke=2000, quick=100_000, full=1_000_000)
    deliveries = pick(size, smoke=50, quick=500, full=3000)
    with (
        fast_receiver() as url,
        private_redis() as redis_url,
        throwaway_database(DEFAULT_POSTGRES) as database_url,
    ):
        engine = make_engine(database_url)
        env = child_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WEBHOOKS_API_KEYS="bench",
            WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
            WEBHOOKS_WORKER_CONCURRENCY=str(CONCURRENCY),
            WEBHOOKS_WORKER_METRICS_PORT="0",
            WEBHOOKS_LOG_LEVEL="WARNING",
        )
        settings = Settings.from_env(env)
        keyring = Keyring.from_settings(settings)
        began = time.perf_counter()
        fill_old(engine, attempts, keyring)
        print(f"   {attempts} old attempt rows written in {time.perf_counter() - began:.0f} s")
        log = LOGS / "bench-purge-worker.log"
        command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "-n", "purge@%h"]
        command += ["--loglevel", "WARNING", "--without-mingle", "--without-gossip"]
        with process(command, {**env, "WEBHOOKS_LOG_LEVEL": "INFO"}, log):
            wait_for(partial(_ready, log), 60, f"the worker (see {log})")
            # Warm up: connections, the receiver, Celery's first tasks.
            deliver(engine, settings, add_live(engine, url, 0, 200, keyring), "ep_r0")
            alone = deliver(
                engine, settings, add_live(engine, url, 1, deliveries, keyring), "ep_r1"
            )
            ids = add_live(engine, url, 2, deliveries, keyring)
            batches: list[float] = []
            totals: list[Purged] = []

            def purging() -> None:
                cut = datetime.now(UTC) - timedelta(days=30)
                totals.append(purge(engine, cut, on_batch=lambda _p, took: batches.append(took)))

            purger = threading.Thread(target=purging)
            purge_began = time.perf_counter()
            purger.start()
            during = deliver(engine, settings, ids, "ep_r2")
            purger.join()
            purge_seconds = time.perf_counter() - purge_began
            again = deliver(
                engine, settings, add_live(engine, url, 3, deliveries, keyring), "ep_r3"
            )
        old_rows = select(func.count()).where(Attempt.endpoint_id == "ep_old")
        with engine.connect() as conn:
            left = conn.scalar(old_rows)
        engine.dispose()
    (purged,) = totals
    assert left == 0, f"{left} old attempts left"
    ms = [seconds * 1000 for seconds in batches]
    print(
        f"   purged {purged.attempts} attempts, {purged.deliveries} deliveries, {purged.events}"
        f" events in {purge_seconds:.1f} s; {len(ms)} batches: median"
        f" {statistics.median(ms):.0f} ms, p95 {_p95(ms):.0f} ms, max {max(ms):.0f} ms"
    )
    return [
        Measurement(
            f"retention: deliveries/s while purging {attempts:,} attempts, 1 worker x"
            f" {CONCURRENCY} threads",
            deliveries / during,
            "/s",
            deliveries / statistics.mean([alone, again]),
            "the same worker, no purge",
            note=f"purge batch p95 {_p95(ms):.0f} ms",
        )
    ]


def _ready(log: Path) -> bool:
    return b" ready." in log.read_bytes()


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95)]
