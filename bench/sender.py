"""Sends per second through the sender, against raw HTTP loops to the same receiver.

    .venv/bin/python -m bench.sender [--seconds 5] [--threads 1]

Every side POSTs the same signed body with the same headers, over keep-alive connections, to
the same asyncio receiver running in a process of its own (it answers an empty 200 at once).
The baselines are a bare `requests.Session` (the client the delivery benchmark compares
against) and a bare `http.client` connection (the floor of any Python HTTP/1.1 client). The
service is `Sender.send`: guard check and DNS lookup, pinned connection, total deadline,
bounded read, error naming. Sides alternate, so a noisy machine slows each of them alike.
"""

import argparse
import http.client
import ipaddress
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from bench.support import fast_receiver
from webhooks import USER_AGENT
from webhooks.delivery.sender import Sender
from webhooks.security.guard import NetworkGuard
from webhooks.security.signing import generate_secret, webhook_headers

BODY = b'{"type":"bench.event","timestamp":"2026-11-26T16:36:19.123Z","data":{"n":1}}'
HEADERS = {
    "content-type": "application/json",
    **webhook_headers([generate_secret()], "evt_bench", BODY),
}

Loop = Callable[[str, float], int]


def raw_requests(url: str, until: float) -> int:
    """POST in a loop with one requests.Session until `until`; return the count."""
    count = 0
    with requests.Session() as session:
        while time.perf_counter() < until:
            session.post(url, data=BODY, headers=HEADERS, timeout=15).raise_for_status()
            count += 1
    return count


def raw_http_client(url: str, until: float) -> int:
    """POST in a loop on one http.client connection until `until`; return the count."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
    count = 0
    while time.perf_counter() < until:
        connection.request("POST", parts.path, BODY, HEADERS)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"raw http.client got {response.status}")
        count += 1
    connection.close()
    return count


def sender_loop(sender: Sender) -> Loop:
    """A loop sending through `sender`, failing loudly on anything but a 200."""

    def run(url: str, until: float) -> int:
        count = 0
        while time.perf_counter() < until:
            response = sender.send(url, HEADERS, BODY)
            if response.status_code != 200 or response.error:
                raise SystemExit(f"sender got {response}")
            count += 1
        return count

    return run


def measure(loop: Loop, url: str, seconds: float, threads: int) -> float:
    """Sends per second of `threads` threads each running `loop` for `seconds`."""
    counts = [0] * threads
    start = threading.Barrier(threads + 1)

    def run(index: int) -> None:
        start.wait()
        counts[index] = loop(url, time.perf_counter() + seconds)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in workers:
        thread.join()
    return sum(counts) / (time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5, help="per side and round")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3, help="the median of this many rounds")
    args = parser.parse_args()
    guard = NetworkGuard([ipaddress.ip_network("127.0.0.0/8")])
    sides: dict[str, Loop] = {
        "baseline  raw http.client loop": raw_http_client,
        "baseline  raw requests.Session loop": raw_requests,
        "service   Sender.send": sender_loop(Sender(guard, 15.0, USER_AGENT)),
    }
    rates: dict[str, list[float]] = {name: [] for name in sides}
    print(
        f"POST to a local asyncio receiver, {args.threads} thread(s), "
        f"{args.seconds:.0f} s per side, median of {args.rounds} rounds"
    )
    with fast_receiver() as url:
        for loop in sides.values():
            measure(loop, url, 0.5, args.threads)  # warm-up: connections, imports
        for _ in range(args.rounds):
            for name, loop in sides.items():
                rates[name].append(measure(loop, url, args.seconds, args.threads))
    medians = {name: sorted(found)[len(found) // 2] for name, found in rates.items()}
    for name, value in medians.items():
        print(f"{name:38} {value:8.0f}/s")
    service = medians["service   Sender.send"]
    for name, value in medians.items():
        if name.startswith("baseline"):
            print(f"ratio     service / {name[10:]:28} {service / value:8.3f}")


if __name__ == "__main__":
    main()
