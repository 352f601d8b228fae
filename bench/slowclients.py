"""Normal requests' latency with and without slow clients holding connections to the API.

    .venv/bin/python -m bench.slowclients [--slow 100] [--requests 200] [--worker-class gthread]

The API runs as the Procfile runs it (gunicorn, 2 workers x 8 threads, the buffering worker
unless `--worker-class` says otherwise) on a throwaway SQLite database. The baseline is the
latency of `GET /v1/endpoints` (authenticated, one query) from 4 threads, each request on a new
connection; then `--slow` connections start sending requests a little at a time (half drip
header lines, half announce a body and drip it a byte at a time) and the same requests are
timed again beside them. A request that gets no answer within 10 s counts as 10 s.
"""

import argparse
import contextlib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import requests

from bench.support import child_env, free_port, process, wait_for
from webhooks.migrate import upgrade

KEY = "bench"
GIVE_UP = 10.0


def latencies(url: str, count: int, threads: int) -> list[float]:
    """Seconds each of `count` GETs took, sorted (GIVE_UP for one that got no answer)."""
    took: list[float] = []

    def run() -> None:
        for _ in range(count // threads):
            started = time.perf_counter()
            try:
                status = requests.get(
                    url, headers={"Authorization": f"Bearer {KEY}"}, timeout=GIVE_UP
                ).status_code
            except requests.RequestException:
                status = 0
            took.append(time.perf_counter() - started if status == 200 else GIVE_UP)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    return sorted(took)


@contextlib.contextmanager
def slow_clients(port: int, count: int, interval: float = 1.0) -> Iterator[None]:
    """Keep `count` connections busy sending requests slowly, until the block ends."""
    sockets = []
    for number in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if number % 2:
            head = "POST /v1/events HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\n"
            head += f"Authorization: Bearer {KEY}\r\nContent-Length: 100000\r\n\r\n{{"
            sock.sendall(head.encode())
        else:
            sock.sendall(b"GET /v1/endpoints HTTP/1.1\r\nHost: b\r\n")
        sockets.append(sock)
    stop = threading.Event()

    def drip() -> None:
        while not stop.wait(interval):
            for number, sock in enumerate(sockets):
                with contextlib.suppress(OSError):
                    sock.sendall(b" " if number % 2 else b"X-Slow: 1\r\n")

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        time.sleep(interval * 2)  # every slow request under way
        yield
    finally:
        stop.set()
        thread.join()
        for sock in sockets:
            sock.close()


def describe(took: list[float]) -> str:
    """p50, p99 and the slowest, in milliseconds."""
    p50 = took[len(took) // 2]
    p99 = took[max(0, int(len(took) * 0.99) - 1)]
    return f"p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms   max {took[-1] * 1000:8.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", type=int, default=100, help="slow connections")
    parser.add_argument("--requests", type=int, default=200, help="normal requests per phase")
    parser.add_argument("--worker-class", default="api.server.BufferedWorker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{Path(folder) / 'webhooks.db'}"
        upgrade(database)
        port = free_port()
        env = child_env(DATABASE_URL=database, WEBHOOKS_API_KEYS=KEY)
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
        command += ["--worker-class", args.worker_class, "--workers", "2", "--threads", "8"]
        command += ["--no-control-socket", "api:create_app()"]
        url = f"http://127.0.0.1:{port}/v1/endpoints"
        with process(command, env, Path(folder) / "web.log"):
            wait_for(lambda: _answers(url), 60, "the API")
            latencies(url, 40, 4)  # warm-up
            alone = latencies(url, args.requests, 4)
            with slow_clients(port, args.slow):
                beside = latencies(url, args.requests, 4)
    print(
        f"GET /v1/endpoints, gunicorn --worker-class {args.worker_class} 2 x 8, "
        f"{args.requests} requests from 4 threads, new connection each"
    )
    print(f"baseline  alone                      {describe(alone)}")
    print(f"service   beside {args.slow:3} slow clients    {describe(beside)}")
    p99 = [took[max(0, int(len(took) * 0.99) - 1)] for took in (alone, beside)]
    print(f"ratio     p99 beside / p99 alone     {p99[1] / p99[0]:8.2f}")


def _answers(url: str) -> bool:
    try:
        return requests.get(url, headers={"Authorization": f"Bearer {KEY}"}, timeout=2).ok
    except requests.RequestException:
        return False


if __name__ == "__main__":
    main()
