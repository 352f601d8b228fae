"""POST /v1/events per second under gunicorn, against a bare Flask route under the same settings.

    .venv/bin/python -m bench.api [--seconds 10] [--connections 16] [--workers 2] [--threads 8]

Each real request authenticates, validates, stores the event and one delivery in PostgreSQL in
one transaction and enqueues one task on Redis; the bare route only parses the JSON. The load
comes from `wrk` when it is installed (apt-get install wrk), else from Python threads.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.support import (
    DEFAULT_POSTGRES,
    child_env,
    fast_receiver,
    free_port,
    private_redis,
    process,
    throwaway_database,
    wait_for,
)

BODY = '{"type": "invoice.paid", "data": {"invoice": "in_1", "amount": 4200}}'
KEY = "bench"


def load(url: str, seconds: float, connections: int) -> tuple[float, int]:
    """Requests per second and the count of non-2xx answers, over `seconds`."""
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    if shutil.which("wrk"):
        return _wrk(url + "/v1/events", seconds, connections, headers)
    return _threads(url + "/v1/events", seconds, connections, headers)


def _wrk(url: str, seconds: float, connections: int, headers: dict[str, str]) -> tuple[float, int]:
    lines = ['wrk.method = "POST"', f"wrk.body = '{BODY}'"]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write("\n".join(lines) + "\n")
        script.flush()
        command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "-s", script.name, url]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        sys.exit(f"wrk printed no rate:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return float(found.group(1)), int(errors.group(1)) if errors else 0


def _threads(
    url: str, seconds: float, connections: int, headers: dict[str, str]
) -> tuple[float, int]:
    counts, errors = [0] * connections, [0] * connections
    deadline = time.monotonic() + seconds

    def run(i: int) -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                status = session.post(url, data=BODY, headers=headers, timeout=30).status_code
                counts[i] += 1
                errors[i] += not 200 <= status < 300

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began), sum(errors)


def measure(app: str, env: dict[str, str], args: argparse.Namespace, prepare: bool) -> float:
    """Start gunicorn for `app`, warm it up, then measure it under load."""
    log = Path("/tmp") / f"bench-{app.split(':')[0]}.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"]
    command += ["--worker-class", "api.server.BufferedWorker"]  # as the Procfile runs it
    command += ["--workers", str(args.workers), "--threads", str(args.threads), app]
    with process(command, env, log):
        wait_for(lambda: _answers(url), 60, f"gunicorn serving {app} (see {log})")
        if prepare:
            # One subscribed endpoint: every event fans out into one delivery and one task.
            created = requests.post(
                url + "/v1/endpoints",
                json={"url": env["BENCH_RECEIVER"]},
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            )
            created.raise_for_status()
        load(url, 2, args.connections)  # warm-up: imports, pools, JIT-less caches
        per_second, errors = load(url, args.seconds, args.connections)
    if errors:
        sys.exit(f"{app}: {errors} answers were not 2xx (see {log})")
    return per_second


def _answers(url: str) -> bool:
    try:
        requests.get(url + "/healthz", timeout=5)
        return True
    except requests.RequestException:  # not listening yet, or still loading the app
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="where to create a database")
    args = parser.parse_args()
    tool = "wrk" if shutil.which("wrk") else "Python threads"
    print(
        f"POST /v1/events, gunicorn --workers {args.workers} --threads {args.threads}, "
        f"{args.connections} connections from {tool}, {args.seconds:.0f} s each"
    )
    with (
        fast_receiver() as receiver,
        private_redis() as redis_url,
        throwaway_database(args.postgres) as database_url,
    ):
        env = child_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            WEBHOOKS_API_KEYS=KEY,
            WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8",
            BENCH_RECEIVER=receiver,
        )
        bare = measure("bench.bare:app", env, args, prepare=False)
        ours = measure("api:create_app()", env, args, prepare=True)
    print(f"baseline  bare Flask route (json parse)   {bare:8.0f}/s")
    print(f"service   POST /v1/events                 {ours:8.0f}/s")
    print(f"ratio     service / baseline              {ours / bare:8.3f}")


if __name__ == "__main__":
    main()
