"""Console pages on a large database: each page's time against the cheapest route's, same run.

    .venv/bin/python -m bench.console [--deliveries 800000] [--repeat 15] [--postgres URL]

Fills a throwaway PostgreSQL database with `--deliveries` deliveries (one event each, one or
two attempts each: about 1,000,000 attempts by default) spread over 14 days, 20 tenants and 200
endpoints, then asks every console page (as an operator, and as a tenant through the portal)
`--repeat` times through the app in this process. The baseline is GET /healthz, which does no
database work: what remains of a page's time is its own queries and template.
"""

import argparse
import re
import statistics
import sys
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update

from api import create_app
from bench.bigdb import Shape, fill
from bench.support import DEFAULT_POSTGRES, throwaway_database
from webhooks.config import ApiKey, Settings
from webhooks.db import make_engine
from webhooks.models import Attempt, Endpoint
from webhooks.security.sealing import Keyring
from webhooks.times import utcnow

KEY = "bench"
BUDGET_MS = 200.0


class NoQueue:
    """A dispatcher for pages that never enqueue: the benchmark measures reads."""

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        return list(delivery_ids)

    def ping(self) -> None:
        return None


def timed(client: FlaskClient, path: str, repeat: int) -> tuple[float, float]:
    """Median and slowest time of GET `path`, in milliseconds, after one warm-up."""
    response = client.get(path)
    if response.status_code != 200:
        sys.exit(f"{path} answered {response.status_code}")
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=Shape.deliveries)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    args = parser.parse_args()
    with throwaway_database(args.postgres) as url:
        started = time.monotonic()
        engine = make_engine(url)
        endpoints = fill(engine, Shape(deliveries=args.deliveries), utcnow())
        key = Fernet.generate_key().decode()
        _seal_secrets(engine, Keyring((key,)))  # as the API stores them: the app checks
        with engine.connect() as conn:
            attempts = conn.execute(select(func.count()).select_from(Attempt)).scalar_one()
        engine.dispose()
        print(f"filled in {time.monotonic() - started:.0f} s: {attempts} attempts")
        settings = Settings(
            database_url=url,
            api_keys=(ApiKey(KEY),),
            secret_key="bench-" + "k" * 40,
            encryption_keys=(key,),
        )
        app = create_app(settings, dispatcher=NoQueue())
        pages = _pages(app.test_client(), endpoints[0]["id"])
        operator, portal = _signed_in(app.test_client()), app.test_client()
        narrowed = _switched(_signed_in(app.test_client()), "tenant-03")
        prefix = _portal(app.test_client(), portal)
        base, _ = timed(operator, "/healthz", args.repeat)
        print(f"\nbaseline GET /healthz: {base:.1f} ms (median of {args.repeat})\n")
        print(f"{'page':<58} {'median':>8} {'max':>8} {'ratio':>7}")
        slowest = 0.0
        for name, path in pages:
            client = narrowed if name.startswith("tenant-03") else operator
            if name.startswith("portal"):
                client, path = portal, prefix + path
            median, worst = timed(client, path, args.repeat)
            slowest = max(slowest, median)
            flag = "" if median <= BUDGET_MS else f"  over {BUDGET_MS:.0f} ms"
            print(f"{name:<58} {median:7.1f}ms {worst:7.1f}ms {median / base:7.1f}{flag}")
        print(f"\nslowest page median: {slowest:.1f} ms (budget {BUDGET_MS:.0f} ms)")
        app.extensions["webhooks"].engine.dispose()


def _seal_secrets(engine: Engine, keyring: Keyring) -> None:
    with engine.begin() as conn:
        for endpoint_id, secret in conn.execute(select(Endpoint.id, Endpoint.secret)).all():
            conn.execute(
                update(Endpoint)
                .where(Endpoint.id == endpoint_id)
                .values(secret=keyring.seal(secret))
            )


def _signed_in(client: FlaskClient) -> FlaskClient:
    page = client.get("/console/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    client.post("/console/sign-in", data={"api_key": KEY, "csrf_token": token.group(1)})
    return client


def _switched(client: FlaskClient, tenant: str) -> FlaskClient:
    page = client.get("/console/endpoints").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    client.post("/console/tenant", data={"tenant": tenant, "csrf_token": token.group(1)})
    return client


def _portal(api: FlaskClient, browser: FlaskClient) -> str:
    response = api.post(
        "/v1/portal-sessions",
        json={"tenant": "tenant-00"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    opened = browser.get(urlsplit(response.get_json()["url"]).path)
    return urlsplit(opened.location).path.removesuffix("/endpoints")


def _pages(client: FlaskClient, endpoint_id: str) -> list[tuple[str, str]]:
    """Every page, with ids taken from the data (the newest of each list)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    delivery = client.get("/v1/deliveries?limit=1", headers=headers).get_json()["data"][0]
    failed = client.get("/v1/deliveries?status=failed&limit=1", headers=headers).get_json()
    event_id = delivery["event_id"]
    older = client.get("/v1/deliveries?limit=250", headers=headers).get_json()["next_cursor"]
    return [
        ("overview, all tenants", "/console/"),
        ("endpoints", "/console/endpoints"),
        ("endpoints, failing", "/console/endpoints?state=failing"),
        ("endpoint page", f"/console/endpoints/{endpoint_id}"),
        ("endpoint edit form", f"/console/endpoints/{endpoint_id}/edit"),
        ("events", "/console/events"),
        ("events, by type", "/console/events?type=customer.deleted"),
        (
            "events, by tenant and day",
            "/console/events?tenant=tenant-03&since=2000-01-01T00:00&until=2100-01-01T00:00",
        ),
        ("event page", f"/console/events/{event_id}"),
        ("deliveries", "/console/deliveries"),
        ("deliveries, failed", "/console/deliveries?status=failed"),
        (
            "deliveries, pending of one endpoint",
            f"/console/deliveries?status=pending&endpoint_id={endpoint_id}",
        ),
        ("deliveries, page 6", f"/console/deliveries?cursor={older}"),
        ("delivery page", f"/console/deliveries/{failed['data'][0]['id']}"),
        ("event types", "/console/event-types"),
        ("tenant-03 (switcher): overview", "/console/"),
        ("tenant-03 (switcher): deliveries", "/console/deliveries"),
        ("portal: endpoints of tenant-00", "/endpoints"),
        ("portal: deliveries of tenant-00", "/deliveries"),
        ("portal: failed deliveries of tenant-00", "/deliveries?status=failed"),
        ("portal: events of tenant-00", "/events"),
    ]


if __name__ == "__main__":
    main()
