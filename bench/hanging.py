"""What the isolation benchmark adds to the shared pieces: an endpoint that never answers, a
Redis that can be restarted, the API as a client, deliveries stored straight into SQL.
"""

import asyncio
import contextlib
import itertools
import multiprocessing
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import Any

import redis
import requests
from sqlalchemy import Engine, text

from bench.receiver import Receiver
from bench.support import LOGS, free_port, process, wait_for, workers
from webhooks.config import Settings
from webhooks.delivery.broker_loss import MARK
from worker.dispatch import CeleryDispatcher

KEY = "bench"  # the API key the benchmark's API accepts
SENDERS = 4  # client threads of a paced load, so one slow answer does not hold up the pace
_batches = itertools.count(1)  # tags that keep the ids of each `store` apart


class _Silent(asyncio.Protocol):
    """Take the connection and the request, never answer: the sender's timeout ends it."""

    def __init__(self, requests_seen: "Synchronized[int]") -> None:
        self.requests_seen = requests_seen
        self.counted = False

    def data_received(self, data: bytes) -> None:
        if not self.counted:
            self.counted = True
            with self.requests_seen.get_lock():
                self.requests_seen.value += 1


def _serve_silently(port: int, seen: "Synchronized[int]", ready: Event) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # hundreds of open connections

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Silent(seen), "127.0.0.1", port, backlog=4096)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


class Hanging:
    """A handle on the hanging server: its URL and how many requests it has held."""

    def __init__(self, port: int, seen: "Synchronized[int]") -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.seen = seen

    def url(self, path: str) -> str:
        """A URL that never answers."""
        return self.base + path

    def requests(self) -> int:
        """Requests received so far (each one held until its sender gave up)."""
        return int(self.seen.value)


@contextlib.contextmanager
def hanging_server() -> Iterator[Hanging]:
    """Run an asyncio server, in a process of its own, that accepts and never answers."""
    port = free_port()
    ready = multiprocessing.Event()
    seen: Synchronized[int] = multiprocessing.Value("i", 0)
    child = multiprocessing.Process(target=_serve_silently, args=(port, seen, ready), daemon=True)
    child.start()
    if not ready.wait(10):
        sys.exit("the hanging server did not start")
    try:
        yield Hanging(port, seen)
    finally:
        child.terminate()
        child.join()


class RedisServer:
    """A private redis-server, nothing on disk, that can be killed and started again."""

    def __init__(self, binary: str) -> None:
        self.command = [binary, "--port", str(free_port()), "--bind", "127.0.0.1"]
        self.command += ["--save", "", "--appendonly", "no"]
        self.url = f"redis://127.0.0.1:{self.command[2]}/0"
        self.child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and wait until it answers."""
        self.child = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        wait_for(self._answers, 10, "the private Redis")

    def stop(self) -> None:
        """Kill the server at once: whatever it held is gone."""
        if self.child is not None:
            self.child.kill()
            self.child.wait()
            self.child = None

    def restart(self) -> float:
        """Kill the server and start an empty one on the same port; return when it was killed."""
        killed = time.time()
        self.stop()
        self.start()
        return killed

    def commands(self) -> int:
        """Commands the server has processed since it started (INFO stats)."""
        with redis.Redis.from_url(self.url) as client:
            return int(client.info("stats")["total_commands_processed"])

    def scrub(self) -> None:
        """Delete every key but kombu's queue bindings and the scheduler's broker mark (this
        is a clean slate, not a broker that lost its messages): queues, unacked, throttles."""
        with redis.Redis.from_url(self.url) as client:
            for key in client.scan_iter(count=1000):
                if not key.startswith(b"_kombu.binding.") and key != MARK.encode():
                    client.delete(key)

    def _answers(self) -> bool:
        try:
            with redis.Redis.from_url(self.url) as client:
                return bool(client.ping())
        except redis.RedisError:
            return False


@contextlib.contextmanager
def restartable_redis() -> Iterator[RedisServer]:
    """A private Redis the benchmark may kill and restart (support.private_redis cannot)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH (apt-get install redis-server)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def delivering(
    env: dict[str, str], count: int, threads: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` worker processes and celery beat (the scheduler's clock); yield the workers."""
    schedule = LOGS / "bench-isolation-celerybeat-schedule"
    for stale in LOGS.glob(schedule.name + "*"):
        stale.unlink()  # a schedule of an earlier run, with another interval
    log = LOGS / "bench-isolation-beat.log"
    beat = [sys.executable, "-m", "celery", "-A", "worker", "beat", "--loglevel", "INFO"]
    # Beat first, so that it starts while the workers do (its passes wait for them queued).
    with (
        process([*beat, "--schedule", str(schedule)], env, log),
        workers(count, env, concurrency=threads) as running,
    ):
        wait_for(lambda: b"beat: Starting" in log.read_bytes(), 60, f"celery beat (see {log})")
        yield running


class Api:
    """The API as a client: endpoints, and events at a steady pace."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {KEY}"}

    def endpoint(self, url: str, event_type: str, **fields: Any) -> tuple[str, str]:
        """Create an endpoint for `event_type` only; return its id and tenant."""
        body = {"url": url, "event_types": [event_type], **fields}
        response = requests.post(
            self.url + "/v1/endpoints", json=body, headers=self.headers, timeout=30
        )
        if response.status_code != 201:
            sys.exit(f"POST /v1/endpoints {body}: {response.status_code} {response.text}")
        found = response.json()
        return str(found["id"]), str(found["tenant"])

    def event(self, session: requests.Session, event_type: str) -> tuple[str, float]:
        """Post one event; return its id and when the API accepted it (its created_at)."""
        response = session.post(
            self.url + "/v1/events",
            json={"type": event_type, "data": {"bench": True}},
            headers=self.headers,
            timeout=30,
        )
        if response.status_code != 202:
            sys.exit(f"POST /v1/events: {response.status_code} {response.text}")
        body = response.json()
        return str(body["id"]), datetime.fromisoformat(body["created_at"]).timestamp()

    def paced(self, types: Sequence[str], rate: float, seconds: float) -> dict[str, float]:
        """Post `rate` events a second for `seconds`, cycling `types`; return id -> accepted."""
        total = round(rate * seconds)
        start = time.monotonic() + 0.1
        accepted: dict[str, float] = {}
        lock = threading.Lock()

        def sender(offset: int) -> None:
            with requests.Session() as session:
                for n in range(offset, total, SENDERS):
                    pause = start + n / rate - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
                    message_id, at = self.event(session, types[n % len(types)])
                    with lock:
                        accepted[message_id] = at

        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(sender, range(SENDERS)))
        return accepted


def arrivals(
    target: Receiver, sent: Sequence[str], timeout: float, alive: Callable[[], bool]
) -> dict[str, float]:
    """id -> first arrival of `sent`, once all arrived, `timeout` passed or `alive()` is false."""
    found: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    wanted = set(sent)
    while True:
        for message_id, at in target.arrivals():
            found.setdefault(message_id, at)
        if wanted <= found.keys() or time.monotonic() > deadline or not alive():
            return {message_id: at for message_id, at in found.items() if message_id in wanted}
        time.sleep(0.25)


def all_arrived(
    target: Receiver, sent: Sequence[str], timeout: float, what: str
) -> dict[str, float]:
    """Wait until every id in `sent` arrived; exit naming `what` after `timeout` seconds."""
    found = arrivals(target, sent, timeout, lambda: True)
    if missing := len(sent) - len(found):
        sys.exit(f"{what}: {missing} of {len(sent)} never arrived in {timeout:.0f} s")
    return found


def store(engine: Engine, endpoint_id: str, tenant: str, count: int, queued: bool) -> list[str]:
    """`count` pending deliveries to one endpoint, due now, in set-based SQL; return their ids.

    `queued`: marked as the API marks what it enqueues at once (the caller enqueues them);
    otherwise queued by nobody, for the scheduler to find. Event ids are delivery ids with
    `evt` for `dlv` (the webhook-id the receiver notes).
    """
    tag = f"{next(_batches)}_"
    rows = {"n": count, "tenant": tenant, "endpoint": endpoint_id, "tag": tag, "queued": queued}
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (id, tenant, type, payload, created_at)"
                " SELECT 'evt_' || :tag || g, :tenant, 'bench.stored',"
                ' convert_to(\'{"type":"bench.stored","data":{"n":\' || g || \'}}\', \'UTF8\'),'
                " now() FROM generate_series(1, :n) AS g"
            ),
            rows,
        )
        conn.execute(
            text(
                "INSERT INTO deliveries (id, tenant, event_id, endpoint_id, status, attempt_count,"
                " run_start, next_attempt_at, queued_until, created_at, updated_at)"
                " SELECT 'dlv_' || :tag || g, :tenant, 'evt_' || :tag || g, :endpoint, 'pending',"
                " 0, 0, now(), CASE WHEN :queued THEN now() END, now(), now()"
                " FROM generate_series(1, :n) AS g"
            ),
            rows,
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE events, deliveries"))
    return [f"dlv_{tag}{n}" for n in range(1, count + 1)]


def event_id(delivery_id: str) -> str:
    """The event of a delivery made by `store`: its webhook-id."""
    return "evt_" + delivery_id.removeprefix("dlv_")


def enqueue(env: dict[str, str], delivery_ids: list[str]) -> None:
    """Put `delivery_ids` on the queue in one batch, as the API does after storing them."""
    dispatcher = CeleryDispatcher.from_settings(Settings.from_env(env))
    try:
        if dispatcher.enqueue(delivery_ids):
            sys.exit(f"could not enqueue {len(delivery_ids)} deliveries")
    finally:
        dispatcher.app.close()
