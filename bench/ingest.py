"""POST /v1/events per second, against a bare Flask route under the same web server.

Both run under the Procfile's `web` command (bench/support.py: web_command) with the same
workers and threads. Each real request authenticates, validates, stores the event and one
delivery in PostgreSQL and enqueues one task on Redis; the bare route only parses the JSON.
The load comes from `wrk` (apt-get install wrk). Python threads, the smoke run's fallback,
cannot load the bare route to its limit from the same two cores: the ratio they give flatters
the service (0.48 where wrk gives 0.07), so a quick or full run refuses to use them.
"""

import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests

from bench.measurement import Measurement, Size, pick, repeats
from bench.receiver import receiver
from bench.support import (
    DEFAULT_POSTGRES,
    LOGS,
    child_env,
    private_redis,
    throwaway_database,
    web_server,
)

BODY = '{"type": "invoice.paid", "data": {"invoice": "in_1", "amount": 4200}}'
KEY = "bench"
CONNECTIONS = 16


def run(size: Size) -> list[Measurement]:
    """Events accepted per second against the bare route, under the same server."""
    if size != "smoke" and not shutil.which("wrk"):
        sys.exit("ingest needs wrk (apt-get install wrk): Python threads cap the baseline")
    seconds = pick(size, smoke=1.0, quick=3.0, full=10.0)
    times = repeats(size)
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
        )
        bare = measure("bench.bare:create_app", env, seconds, times, subscribe=None)
        ours = measure("api:create_app", env, seconds, times, subscribe=target.url())
    tool = "wrk" if shutil.which("wrk") else "Python threads"
    return [
        Measurement(
            f"ingest: POST /v1/events, 1 endpoint, {CONNECTIONS} connections ({tool})",
            ours,
            "/s",
            bare,
            "bare Flask route, same server",
            "≥ 0.5",
        )
    ]


def measure(
    app: str, env: dict[str, str], seconds: float, times: int, subscribe: str | None
) -> float:
    """Serve `app`, warm it up, then the median rate of `times` loads of `seconds`."""
    log = LOGS / f"bench-web-{app.split(':')[0]}.log"
    with web_server(app, env, log) as url:
        if subscribe is not None:
            # One subscribed endpoint: every event fans out into one delivery and one task.
            created = requests.post(
                url + "/v1/endpoints",
                json={"url": subscribe},
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=10,
            )
            created.raise_for_status()
        load(url, min(2.0, seconds), CONNECTIONS)  # warm-up: imports, pools, caches
        rates = []
        for _ in range(times):
            rate, errors = load(url, seconds, CONNECTIONS)
            if errors:
                sys.exit(f"{app}: {errors} answers were not 2xx (see {log})")
            rates.append(rate)
    return statistics.median(rates)


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
        command = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, round(seconds))}s"]
        command += ["-s", script.name, url]
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
