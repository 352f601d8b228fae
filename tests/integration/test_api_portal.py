"""/v1/portal-sessions and the portal: one tenant, one use, a short life, no operator pages."""

import time
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, update

from tests.support.api import (
    TENANT_KEY,
    create_endpoint,
    keyed_client,
    other_app,
    post_event,
    problem,
)
from tests.support.console import open_portal, portal_link
from webhooks.config import Settings
from webhooks.models import PortalLink
from webhooks.times import utcnow


def test_portal_shows_only_its_tenant(app: Flask, client: FlaskClient) -> None:
    """A portal for acme lists acme's endpoints; globex's ids answer 404; operator pages too."""
    mine = create_endpoint(client, "https://acme.example.com/hook", tenant="acme")
    theirs = create_endpoint(client, "https://globex.example.com/hook", tenant="globex")
    event = post_event(client, tenant="globex")
    (delivery,) = event["deliveries"]
    browser = app.test_client()
    portal = open_portal(browser, portal_link(client, "acme"))

    page = browser.get(f"{portal}/endpoints").get_data(as_text=True)
    assert mine["url"] in page and theirs["url"] not in page
    assert browser.get(f"{portal}/endpoints/{mine['id']}").status_code == 200
    for path in (
        f"/endpoints/{theirs['id']}",
        f"/endpoints/{theirs['id']}/edit",
        f"/events/{event['id']}",
        f"/deliveries/{delivery['id']}",
        "/",
        "/event-types",
    ):
        assert browser.get(f"{portal}{path}").status_code == 404, path
    assert browser.post(f"{portal}/tenant", data={"tenant": "globex"}).status_code == 404
    # The portal holds no operator session.
    assert browser.get("/console/endpoints").status_code == 302
    assert "globex" not in browser.get(f"{portal}/deliveries").get_data(as_text=True)


def test_link_works_once_and_expires(app: Flask, client: FlaskClient) -> None:
    """A link opens one session; a second use, an expired link or a forged one answer 404."""
    link = portal_link(client, "acme")
    portal = open_portal(app.test_client(), link)
    assert app.test_client().get(link).status_code == 404
    assert app.test_client().get(f"{portal}/endpoints").status_code == 200

    short = portal_link(client, "acme", ttl=30)
    problem(client.post("/v1/portal-sessions", json={"tenant": "acme", "ttl_seconds": 5}), 422)
    assert app.test_client().get(short + "x").status_code == 404
    assert app.test_client().get("/console/p/forged/endpoints").status_code == 404


def test_expired_link_and_session_are_refused(
    app: Flask, client: FlaskClient, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past its time-to-live a link no longer opens, and a session it opened no longer works."""
    portal = open_portal(app.test_client(), portal_link(client, "acme", ttl=30))
    unused = portal_link(client, "acme", ttl=30)
    with engine.begin() as conn:
        conn.execute(update(PortalLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert app.test_client().get(unused).status_code == 404
    later = time.time() + 31
    monkeypatch.setattr(time, "time", lambda: later)
    assert app.test_client().get(f"{portal}/endpoints").status_code == 404


def test_only_an_unbound_key_opens_portals(app: Flask, settings: Settings) -> None:
    """A tenant-bound key gets 403; without WEBHOOKS_SECRET_KEY the route answers 503."""
    problem(keyed_client(app, TENANT_KEY).post("/v1/portal-sessions", json={"tenant": "acme"}), 403)

    with other_app(settings, secret_key=None) as bare:
        response = keyed_client(bare, "test-key").post(
            "/v1/portal-sessions", json={"tenant": "acme"}
        )
        assert "WEBHOOKS_SECRET_KEY" in problem(response, 503)["detail"]
        page = bare.test_client().get("/console/sign-in")
        assert page.status_code == 503 and "WEBHOOKS_SECRET_KEY" in page.get_data(as_text=True)


def test_portal_may_be_framed_by_the_listed_origins_only(settings: Settings) -> None:
    """frame-ancestors: the listed origins for the portal, 'none' for the operator's console."""
    framers = ("https://app.example.com", "https://*.example.org")
    with other_app(
        settings,
        portal_frame_ancestors=framers,
        portal_product_name="Acme Cloud",
        portal_accent_color="#7c3aed",
    ) as app:
        api = keyed_client(app, "test-key")
        browser = app.test_client()
        portal = open_portal(browser, portal_link(api, "acme"))
        page = browser.get(f"{portal}/endpoints")
        policy = page.headers["Content-Security-Policy"]
        assert "frame-ancestors https://app.example.com https://*.example.org" in policy
        assert "X-Frame-Options" not in page.headers
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert "<title>Endpoints · Acme Cloud</title>" in page.get_data(as_text=True)
        theme = browser.get(f"{portal}/theme.css").get_data(as_text=True)
        assert "--accent: #7c3aed" in theme
        operator = app.test_client().get("/console/sign-in")
        assert "frame-ancestors 'none'" in operator.headers["Content-Security-Policy"]
        assert operator.headers["X-Frame-Options"] == "DENY"
    # By default the portal is not framed either.
    default = app_page_policy(settings)
    assert "frame-ancestors 'none'" in default


def app_page_policy(settings: Settings) -> str:
    """The Content-Security-Policy of a portal page with the default settings."""
    with other_app(settings) as app:
        browser = app.test_client()
        portal = open_portal(browser, portal_link(keyed_client(app, "test-key"), "acme"))
        return browser.get(f"{portal}/endpoints").headers["Content-Security-Policy"]
