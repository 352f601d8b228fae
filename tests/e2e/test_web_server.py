"""The Procfile's `web` process facing hostile clients: slow ones, oversized and malformed ones.

Also what it reports of itself with several workers: one count of events whichever answers a
scrape, and nothing but JSON lines on its output.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from tests.conftest import ENCRYPTION_KEY
from tests.support import free_port, wait_until
from tests.support.processes import process_env
from tests.support.rawclient import Answer, chunked, exchange
from webhooks.migrate import upgrade
from webhooks.models import Event

ROOT = Path(__file__).resolve().parents[2]
KEY = "web-key"
LIMIT = 1024  # WEBHOOKS_MAX_PAYLOAD_BYTES of the server under test
SLOW_CLIENTS = 100
NORMAL_REQUESTS = 100


@dataclass
class Web:
    """The running `web` process: where it listens and what it printed."""

    port: int
    log: Path
    database: str

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _procfile_command(role: str) -> str:
    (line,) = [
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(role)
    ]
    return line.partition(":")[2].strip()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, session_redis: str) -> Iterator[Web]:
    """The Procfile's `web` command as written, on a free port, SQLite behind it."""
    folder = tmp_path_factory.mktemp("web")
    database = f"sqlite:///{folder / 'webhooks.db'}"
    upgrade(database)
    port = free_port()
    env = process_env(
        {
            "DATABASE_URL": database,
            "REDIS_URL": session_redis,
            "WEBHOOKS_API_KEYS": KEY,
            "WEBHOOKS_ENCRYPTION_KEYS": ENCRYPTION_KEY,
            "WEBHOOKS_MAX_PAYLOAD_BYTES": str(LIMIT),
            "WEBHOOKS_LOG_FORMAT": "json",
            "WEB_CONCURRENCY": "2",
            "PORT": str(port),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
    )
    log = folder / "web.log"
    # gunicorn's control socket is one per user, in the home directory: not for a test.
    command = _procfile_command("web") + " --no-control-socket"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["sh", "-c", f"exec {command}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    web = Web(port, log, database)
    try:
        wait_until(
            lambda: _answers(web) or process.poll() is not None,
            timeout=60,
            message="the web process never answered",
        )
        assert process.poll() is None, log.read_text()
        yield web
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(web: Web) -> bool:
    try:
        return requests.get(web.url("/healthz"), timeout=2).status_code == 200
    except requests.RequestException:
        return False


class SlowClients:
    """Connections that each send a request a little at a time, forever: headers or bodies."""

    def __init__(self, port: int, count: int, interval: float) -> None:
        self.sockets: list[socket.socket] = []
        for number in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if number % 2:  # a body announced, then dripped
                head = "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                sock.sendall(
                    f"{head}Authorization: Bearer {KEY}\r\nContent-Length: 900\r\n\r\n{{".encode()
                )
            else:  # headers that never end
                sock.sendall(b"GET /v1/endpoints HTTP/1.1\r\nHost: t\r\n")
            self.sockets.append(sock)
        self.interval = interval
        self.open = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop dripping, hang up, and return how many connections were still open."""
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self.sockets:
            sock.close()
        return self.open

    def _drip(self) -> None:
        while not self._stop.wait(self.interval):
            self.open = 0
            for number, sock in enumerate(self.sockets):
                with contextlib.suppress(OSError):
                    sock.sendall(b" " if number % 2 else b"X-Slow: 1\r\n")
                    self.open += 1


def _latencies(web: Web, count: int, threads: int) -> list[float]:
    """Seconds each of `count` GET /v1/endpoints took, each on a new connection."""
    took: list[float] = []

    def run() -> None:
        for _ in range(count // threads):
            started = time.perf_counter()
            response = requests.get(
                web.url("/v1/endpoints"), headers={"Authorization": f"Bearer {KEY}"}, timeout=30
            )
            took.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sorted(took)


def test_slow_clients_do_not_delay_normal_requests(web: Web) -> None:
    """100 connections dripping headers and bodies: normal requests' p99 stays under 1 s."""
    slow = SlowClients(web.port, SLOW_CLIENTS, interval=0.5)
    try:
        time.sleep(1.0)  # every slow request under way, as many as threads and more
        took = _latencies(web, NORMAL_REQUESTS, threads=4)
    finally:
        still_open = slow.stop()
    assert len(took) == NORMAL_REQUESTS
    p99 = took[int(len(took) * 0.99) - 1]
    assert p99 < 1.0, f"p99 {p99:.2f} s, slowest {took[-1]:.2f} s"
    # The server held them all the while (it did not just drop slow clients).
    assert still_open >= SLOW_CLIENTS * 0.9


def _events(body: bytes, framing: str) -> bytes:
    head = (
        "POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {KEY}\r\n{framing}\r\n"
    )
    return head.encode() + body


def _event_of_size(size: int) -> bytes:
    """A valid event body of exactly `size` bytes (JSON allows trailing spaces)."""
    body = b'{"type": "invoice.paid", "data": {}}'
    return body + b" " * (size - len(body))


def _assert_problem(answer: Answer, status: int) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_body_over_the_limit_is_413_however_framed(web: Web, framing: str) -> None:
    """The same oversized bytes get the same 413 problem, chunked or with Content-Length."""
    body = _event_of_size(LIMIT + 1)
    if framing == "chunked":
        answer = exchange(web.port, _events(chunked(body, 100), "Transfer-Encoding: chunked\r\n"))
    else:
        answer = exchange(web.port, _events(body, f"Content-Length: {len(body)}\r\n"))
    _assert_problem(answer, 413)


def test_chunked_body_at_the_limit_is_accepted_whole(web: Web) -> None:
    """A chunked event of exactly the limit is stored as sent (202), not refused or cut."""
    body = _event_of_size(LIMIT)
    answer = exchange(web.port, _events(chunked(body, 7), "Transfer-Encoding: chunked\r\n"))
    assert answer.status == 202, answer
    assert answer.json()["type"] == "invoice.paid"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n", 400),
    ],
    ids=["414", "431", "400"],
)
def test_the_servers_own_errors_are_problems(web: Web, request_bytes: bytes, status: int) -> None:
    """Refusals made before the app runs look like the app's: problem+json."""
    _assert_problem(exchange(web.port, request_bytes), status)


def test_refusals_carry_a_request_id(web: Web) -> None:
    """A refused request's id (the caller's, or a new one) is in its answer and its log line."""
    body = _event_of_size(LIMIT + 1)
    framing = f"Content-Length: {len(body)}\r\nX-Request-Id: caller-413\r\n"
    offered = exchange(web.port, _events(body, framing))
    _assert_problem(offered, 413)
    assert offered.headers["x-request-id"] == "caller-413"

    generated = exchange(web.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    _assert_problem(generated, 414)
    new = generated.headers["x-request-id"]
    assert new.startswith("req_")

    def refusals() -> dict[str, int]:
        return {
            str(line["request_id"]): int(str(line["status_code"]))
            for line in _log_lines(web)
            if line.get("message") == "request refused" and "request_id" in line
        }

    wait_until(lambda: {"caller-413", new} <= refusals().keys(), message="no refusal lines")
    assert refusals()["caller-413"] == 413
    assert refusals()[new] == 414


def test_counters_are_the_sum_of_every_web_process(web: Web) -> None:
    """With 2 workers, every scrape, whichever worker answers, counts every event accepted."""

    def send(count: int) -> None:
        for _ in range(count):
            response = requests.post(
                web.url("/v1/events"),
                json={"type": "invoice.paid", "data": {}},
                headers={"Authorization": f"Bearer {KEY}", "Connection": "close"},
                timeout=30,
            )
            assert response.status_code == 202, response.text

    senders = [threading.Thread(target=send, args=(10,)) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    engine = create_engine(web.database)
    with engine.connect() as connection:
        stored = connection.scalar(select(func.count()).select_from(Event))
    engine.dispose()
    assert stored is not None and stored >= 40

    for _ in range(12):
        response = requests.get(web.url("/metrics"), headers={"Connection": "close"}, timeout=10)
        samples = [
            sample
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        ]
        accepted = [s.value for s in samples if s.name == "webhooks_events_accepted_total"]
        assert accepted == [stored]
        # Read from SQL at the scrape: once, not once per process.
        assert [s.value for s in samples if s.name == "webhooks_deliveries_pending"] == [0]


def _log_lines(web: Web) -> list[dict[str, object]]:
    """The web process's output so far, every whole line parsed as JSON."""
    text = web.log.read_text()
    return [json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines() if line]


def test_every_line_printed_is_json(web: Web) -> None:
    """gunicorn's own lines, the app's and the server's refusals: all JSON objects."""
    lines = _log_lines(web)
    assert all(isinstance(line, dict) for line in lines)
    messages = {(line.get("logger"), str(line.get("message"))[:15]) for line in lines}
    assert ("gunicorn.error", "Booting worker ") in messages
    assert ("api.requests", "request") in messages
