"""The console and the portal in a real browser (Chromium), against a real worker and receiver."""

import json
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from playwright.sync_api import Browser, Page, expect

from tests.support.api import API_KEY, create_endpoint, json_body
from tests.support.browser import chromium, served
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply

pytestmark = [
    pytest.mark.browser,
    # One backend is enough to drive pages; the queries run on both in tests/integration.
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]
WAIT_MS = 20_000
# A busy two-core machine can take seconds over a page: give every expectation room.
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module's tests; each test has a context (cookies) of its own."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def base_url(app: Flask) -> Iterator[str]:
    """The app over real HTTP."""
    with served(app) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context and page."""
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def sign_in(page: Page, base_url: str) -> None:
    """Sign in through the form, with the keyboard."""
    page.goto(f"{base_url}/console/")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_label("API key").press("Enter")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def test_operator_sends_a_test_event_watches_it_and_retries(
    page: Page,
    base_url: str,
    client: FlaskClient,
    receiver: Receiver,
    worker: CeleryProcess,
) -> None:
    """Create an endpoint, send a test event, see it succeed live, then fail and retry it."""
    example = {"invoice": "in_42", "amount": 4200}
    json_body(
        client.post(
            "/v1/event-types",
            json={"name": "invoice.paid", "description": "Paid", "example": example},
        ),
        201,
    )
    receiver.script("/hook", Reply(200, body=b"thanks"))
    sign_in(page, base_url)
    cookie = next(c for c in page.context.cookies() if c["name"] == "webhooks_console")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Strict")
    assert API_KEY not in cookie["value"]

    page.get_by_role("link", name="Endpoints").click()
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("URL").fill(receiver.url("/hook"))
    page.get_by_label("invoice.paid").check()  # the picker lists the catalogue
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_text("Endpoint created.")).to_be_visible()

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_text("A test event was sent.")).to_be_visible()
    page.evaluate("window.notReloaded = true")
    status = page.locator("#delivery-status")
    expect(status).to_have_text("succeeded", timeout=WAIT_MS)
    assert page.evaluate("window.notReloaded") is True  # updated in place
    attempt = page.locator("#attempt-1")
    expect(attempt).to_contain_text("200")
    attempt.get_by_text("Request headers sent").click()
    expect(attempt).to_contain_text("webhook-id")
    (received,) = receiver.received("/hook")
    assert json.loads(received.body)["data"] == example  # the catalogue's example

    receiver.script("/hook", Reply(500, body=b"down for maintenance"))
    page.get_by_role("button", name="Retry now").click()
    expect(page.get_by_text("queued to be sent again")).to_be_visible()
    second = page.locator("#attempt-2")
    expect(second).to_contain_text("500", timeout=WAIT_MS)
    expect(second).to_contain_text("down for maintenance")
    assert "whsec_" not in page.content()

    # A form posted without its CSRF token is refused, even with the session cookie.
    refused = page.evaluate(
        """async () => (await fetch('/console/tenant', {method: 'POST',
            body: new URLSearchParams({tenant: 'x'})})).status"""
    )
    assert refused == 403


def test_portal_link_sees_one_tenant_once(page: Page, base_url: str, client: FlaskClient) -> None:
    """A portal link shows its tenant's endpoints, 404 for another's, no operator pages, once."""
    mine = create_endpoint(client, "https://acme.example.com/hook", tenant="acme")
    theirs = create_endpoint(client, "https://globex.example.com/hook", tenant="globex")
    link = json_body(client.post("/v1/portal-sessions", json={"tenant": "acme"}), 201)["url"]
    link = link.replace("http://localhost", base_url)

    page.set_viewport_size({"width": 375, "height": 740})  # a phone
    page.goto(link)
    expect(page.get_by_role("link", name=mine["url"])).to_be_visible()
    expect(page.get_by_text(theirs["url"])).to_have_count(0)
    expect(page.get_by_role("link", name="Overview")).to_have_count(0)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page is {width}px wide on a 375px screen"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    portal = page.url.removesuffix("/endpoints")
    for path in (f"/endpoints/{theirs['id']}", "/", "/event-types"):
        response = page.goto(portal + path)
        assert response is not None and response.status == 404, path
    response = page.goto(f"{base_url}/console/endpoints")
    assert page.url.startswith(f"{base_url}/console/sign-in"), "no operator session"

    again = page.context.browser.new_context() if page.context.browser else None
    assert again is not None
    response = again.new_page().goto(link)
    assert response is not None and response.status == 404  # a link works once
    again.close()


def test_picker_lists_the_catalogue_and_schemas_guard_ingest(
    page: Page, base_url: str, client: FlaskClient
) -> None:
    """The form picks from the catalogue; data breaking a type's schema is refused, field named."""
    schema = {
        "type": "object",
        "properties": {"order": {"type": "string"}},
        "required": ["order"],
    }
    for name, fields in (
        ("order.shipped", {"description": "Left the warehouse", "schema": schema}),
        ("customer.created", {"description": "Signed up"}),
    ):
        json_body(client.post("/v1/event-types", json={"name": name, **fields}), 201)
    refused = client.post("/v1/events", json={"type": "order.shipped", "data": {"order": 7}})
    assert [e["loc"] for e in json_body(refused, 422)["errors"]] == [["data", "order"]]

    sign_in(page, base_url)
    page.goto(f"{base_url}/console/endpoints/new")
    picker = page.locator("#picker")
    expect(picker.get_by_role("checkbox")).to_have_count(2)
    expect(picker).to_contain_text("Left the warehouse")
    page.get_by_label("URL").fill("https://example.com/orders")
    page.get_by_label("order.shipped").check()
    page.get_by_role("button", name="Create endpoint").click()
    expect(page.get_by_text("Endpoint created.")).to_be_visible()
    expect(page.get_by_label("Send a test event")).to_have_value("order.shipped")

    # No example to send, and the schema wants `order`: the test event is refused, not stored.
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("alert")).to_contain_text("does not fit the schema of order.shipped")
    expect(page.get_by_text("'order' is a required property")).to_be_visible()
    assert json_body(client.get("/v1/events"))["data"] == []
