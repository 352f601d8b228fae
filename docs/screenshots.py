"""Take the README's screenshots in a real browser (Debian's Chromium) against a real console.

    .venv/bin/python -m docs.screenshots [--out docs]

A throwaway SQLite database gets a day of history for 3 tenants (a few thousand deliveries,
made as bench/bigdb.py makes them) and a small event-type catalogue; the app is served on a
free port of 127.0.0.1; Chromium signs in as an operator, then opens a portal link as a tenant
would, at a phone's width, and saves each page as a PNG.
"""

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Page

from api import create_app
from bench.bigdb import Shape, fill
from tests.support.browser import chromium, served
from webhooks.config import ApiKey, Settings
from webhooks.db import make_engine
from webhooks.migrate import upgrade
from webhooks.times import utcnow

KEY = "screenshots"
INVOICE_SCHEMA = {
    "type": "object",
    "properties": {"invoice": {"type": "string"}, "amount": {"type": "integer"}},
    "required": ["invoice", "amount"],
}


class NoQueue:
    """Nothing is delivered while the pictures are taken: the history is made up front."""

    def enqueue(self, delivery_ids: Sequence[str]) -> list[str]:
        return list(delivery_ids)

    def ping(self) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    out: Path = parser.parse_args().out
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/screenshots.db"
        upgrade(url)
        engine = make_engine(url)
        fill(engine, Shape(tenants=3, endpoints_per_tenant=4, deliveries=4000, days=1), utcnow())
        engine.dispose()
        settings = Settings(
            database_url=url,
            api_keys=(ApiKey(KEY),),
            secret_key="screenshots-" + "s" * 32,
            portal_product_name="Acme Cloud",
            portal_accent_color="#7c3aed",
        )
        app = create_app(settings, dispatcher=NoQueue())
        api = app.test_client()
        api.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {KEY}"
        api.post(
            "/v1/event-types",
            json={
                "name": "invoice.paid",
                "description": "An invoice was paid in full",
                "schema": INVOICE_SCHEMA,
                "example": {"invoice": "in_1042", "amount": 4200},
            },
        )
        api.post("/v1/event-types", json={"name": "customer.created", "description": "Signed up"})
        failed = api.get("/v1/deliveries?status=failed&limit=1").get_json()["data"][0]
        with served(app) as base, chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            _operator(page, base, failed, out)
            link = api.post("/v1/portal-sessions", json={"tenant": "tenant-01"}).get_json()["url"]
            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            phone.goto(base + urlsplit(link).path)
            _shoot(phone, out / "portal-phone.png")
        app.extensions["webhooks"].engine.dispose()


def _operator(page: Page, base: str, failed: dict[str, str], out: Path) -> None:
    page.goto(f"{base}/console/sign-in")
    page.get_by_label("API key").fill(KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="Overview").wait_for()
    _shoot(page, out / "console-overview.png")
    page.goto(f"{base}/console/endpoints")
    _shoot(page, out / "console-endpoints.png")
    page.goto(f"{base}/console/endpoints/new")
    _shoot(page, out / "console-new-endpoint.png")
    page.goto(f"{base}/console/deliveries/{failed['id']}")
    page.get_by_text("Request headers sent").first.click()
    _shoot(page, out / "console-delivery.png")
    page.goto(f"{base}/console/events/{failed['event_id']}")
    _shoot(page, out / "console-event.png")


def _shoot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
