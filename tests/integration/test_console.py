"""The console over HTTP: sign-in, the session cookie, CSRF, revocation, headers, tenants, forms."""

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import (
    API_KEY,
    TENANT_KEY,
    create_endpoint,
    get_endpoint,
    other_app,
    post_event,
)
from tests.support.console import csrf_of, sign_in
from webhooks.config import ApiKey, Settings

PAGES = ("/", "/endpoints", "/endpoints/new", "/events", "/deliveries", "/event-types")


def _cookie_header(response_headers: list[str]) -> str:
    (cookie,) = [h for h in response_headers if h.startswith("webhooks_console=")]
    return cookie


def test_pages_need_a_session(app: Flask) -> None:
    """Every page sends a stranger to the sign-in form, remembering where it was going."""
    browser = app.test_client()
    for page in PAGES:
        response = browser.get(f"/console{page}")
        assert response.status_code == 302, page
        assert response.location.startswith("/console/sign-in?next=/console")


def test_sign_in_sets_a_strict_http_only_cookie_without_the_key(app: Flask) -> None:
    """A good key gives an HttpOnly, SameSite=Strict cookie (Secure over HTTPS) without the key."""
    browser = app.test_client()
    token = csrf_of(browser.get("/console/sign-in"))
    refused = browser.post("/console/sign-in", data={"api_key": "nope", "csrf_token": token})
    assert refused.status_code == 401 and "not valid" in refused.get_data(as_text=True)

    response = browser.post("/console/sign-in", data={"api_key": API_KEY, "csrf_token": token})
    assert response.status_code == 303
    cookie = _cookie_header(response.headers.getlist("Set-Cookie"))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here: a Secure cookie would never come back
    assert API_KEY not in cookie
    for page in PAGES:
        assert browser.get(f"/console{page}").status_code == 200, page

    secure = app.test_client()
    token = csrf_of(secure.get("/console/sign-in", base_url="https://localhost"))
    response = secure.post(
        "/console/sign-in",
        data={"api_key": API_KEY, "csrf_token": token},
        base_url="https://localhost",
    )
    assert "Secure" in _cookie_header(response.headers.getlist("Set-Cookie"))


def test_forms_without_the_csrf_token_are_refused(app: Flask, client: FlaskClient) -> None:
    """A post without the session's token (or with another's) changes nothing: 403."""
    endpoint = create_endpoint(client)
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    other = sign_in(app.test_client(), API_KEY)
    disable = f"/console/endpoints/{endpoint['id']}/disable"
    assert browser.post(disable).status_code == 403
    assert browser.post(disable, data={"csrf_token": other}).status_code == 403
    assert browser.post("/console/sign-in", data={"api_key": API_KEY}).status_code == 403
    assert get_endpoint(client, endpoint["id"])["enabled"] is True
    assert browser.post(disable, data={"csrf_token": token}).status_code == 303
    assert get_endpoint(client, endpoint["id"])["enabled"] is False


def test_sign_out_and_revoked_keys_end_the_session(app: Flask, settings: Settings) -> None:
    """Signing out ends the session; so does removing the key it was opened with."""
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    assert browser.post("/console/sign-out", data={"csrf_token": token}).status_code == 303
    assert browser.get("/console/endpoints").status_code == 302

    sign_in(browser, API_KEY)
    cookie = browser.get_cookie("webhooks_console", path="/console")
    assert cookie is not None
    with other_app(settings, api_keys=(ApiKey("another-key"),)) as rotated:
        later = rotated.test_client()
        later.set_cookie("webhooks_console", cookie.value, path="/console")
        assert later.get("/console/endpoints").status_code == 302
    with other_app(settings) as same_keys:
        later = same_keys.test_client()
        later.set_cookie("webhooks_console", cookie.value, path="/console")
        assert later.get("/console/endpoints").status_code == 200  # another process, same key


def test_pages_carry_a_strict_content_security_policy(app: Flask, settings: Settings) -> None:
    """No inline script or style, no framing of the console; the portal's framers are listed."""
    browser = app.test_client()
    sign_in(browser, API_KEY)
    policy = browser.get("/console/").headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    page = browser.get("/console/").get_data(as_text=True)
    assert not re.search(r"<script>|\sstyle=|\son[a-z]+=", page)


def test_tenant_key_sees_its_tenant_and_unbound_key_switches(
    app: Flask, client: FlaskClient
) -> None:
    """A bound key's console shows only its tenant; an unbound key picks one or sees all."""
    acme = create_endpoint(client, "https://acme.example.com/hook", tenant="acme")
    globex = create_endpoint(client, "https://globex.example.com/hook", tenant="globex")
    bound = app.test_client()
    sign_in(bound, TENANT_KEY)
    page = bound.get("/console/endpoints").get_data(as_text=True)
    assert acme["url"] in page and globex["url"] not in page
    assert bound.get(f"/console/endpoints/{globex['id']}").status_code == 404
    assert 'name="tenant"' not in page  # no switcher

    operator = app.test_client()
    token = sign_in(operator, API_KEY)
    page = operator.get("/console/endpoints").get_data(as_text=True)
    assert acme["url"] in page and globex["url"] in page
    operator.post("/console/tenant", data={"tenant": "globex", "csrf_token": token})
    page = operator.get("/console/endpoints").get_data(as_text=True)
    assert acme["url"] not in page and globex["url"] in page
    assert operator.get(f"/console/endpoints/{acme['id']}").status_code == 404
    operator.post("/console/tenant", data={"tenant": "", "csrf_token": token})
    assert acme["url"] in operator.get("/console/endpoints").get_data(as_text=True)


def test_endpoint_form_uses_the_api_rules(app: Flask, client: FlaskClient) -> None:
    """The form refuses what POST /v1/endpoints refuses, beside the field; and creates the rest."""
    client.post("/v1/event-types", json={"name": "invoice.paid", "description": "Paid"})
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    form = browser.get("/console/endpoints/new").get_data(as_text=True)
    assert 'value="invoice.paid"' in form  # the picker lists the catalogue
    bad = browser.post(
        "/console/endpoints/new",
        data={"url": "ftp://x", "rate_limit": "0", "csrf_token": token},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'id="rate_limit-error"' in text and 'value="ftp://x"' in text
    for url in ("ftp://x", "http://10.0.0.1/x"):
        refused = browser.post("/console/endpoints/new", data={"url": url, "csrf_token": token})
        assert refused.status_code == 422 and 'id="url-error"' in refused.get_data(as_text=True)
    made = browser.post(
        "/console/endpoints/new",
        data={
            "url": "https://example.com/hook",
            "event_types": "invoice.paid",
            "event_types_typed": "customer.*",
            "rate_limit": "7",
            "metadata": "team=billing",
            "tenant": "acme",
            "csrf_token": token,
        },
    )
    assert made.status_code == 303
    endpoint_id = made.location.split("/")[-1].split("?")[0]
    stored = get_endpoint(client, endpoint_id)
    assert (stored["event_types"], stored["rate_limit"], stored["tenant"]) == (
        ["invoice.paid", "customer.*"],
        7,
        "acme",
    )
    assert stored["metadata"] == {"team": "billing"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_event_payload_is_shown_as_sent(app: Flask, client: FlaskClient) -> None:
    """The event page shows the body every attempt sent, byte for byte, and pretty-printed."""
    create_endpoint(client)
    event = post_event(client, data={"amount": 1.5, "name": "café", "big": 12345678901234567890})
    browser = app.test_client()
    sign_in(browser, API_KEY)
    page = html.unescape(browser.get(f"/console/events/{event['id']}").get_data(as_text=True))
    assert '"name": "café"' in page and '"big": 12345678901234567890' in page
    # The exact bytes, in the details (the test client sends keys sorted).
    assert '"data":{"amount":1.5,"big":12345678901234567890,"name":"café"}' in page
