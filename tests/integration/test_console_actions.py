"""What the console's buttons do, through the core the JSON API uses: edit, test, retry, recover."""

import html
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.support.api import (
    API_KEY,
    create_endpoint,
    get_delivery,
    get_endpoint,
    post_event,
    queued_delivery_ids,
    set_row,
)
from tests.support.console import sign_in
from webhooks.times import utcnow


def test_edit_form_changes_an_endpoint_and_shows_refusals(app: Flask, client: FlaskClient) -> None:
    """The edit form saves with PATCH's rules; a refused value stays in the form, nothing saved."""
    endpoint = create_endpoint(client, event_types=["invoice.*"], rate_limit=5)
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    path = f"/console/endpoints/{endpoint['id']}/edit"
    assert 'value="invoice.*"' in browser.get(path).get_data(as_text=True)
    refused = browser.post(path, data={"url": "http://10.1.2.3/", "csrf_token": token})
    assert refused.status_code == 422 and 'id="url-error"' in refused.get_data(as_text=True)
    assert get_endpoint(client, endpoint["id"])["url"] == endpoint["url"]
    saved = browser.post(
        path,
        data={"url": "https://example.com/new", "description": "new", "csrf_token": token},
    )
    assert saved.status_code == 303
    after = get_endpoint(client, endpoint["id"])
    assert (after["url"], after["description"], after["rate_limit"]) == (
        "https://example.com/new",
        "new",
        None,  # the emptied field means unlimited, as null does in a PATCH
    )
    assert after["event_types"] == []


def test_test_event_sends_the_example_to_that_endpoint_only(
    app: Flask, client: FlaskClient, redis_url: str
) -> None:
    """A test event carries the catalogue's example, reaches only the chosen endpoint, is queued."""
    example = {"invoice": "in_9", "amount": 12}
    client.post("/v1/event-types", json={"name": "invoice.paid", "example": example})
    chosen = create_endpoint(client)
    other = create_endpoint(client)
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    page = browser.get(f"/console/endpoints/{chosen['id']}").get_data(as_text=True)
    assert '<option value="invoice.paid">' in page
    sent = browser.post(
        f"/console/endpoints/{chosen['id']}/test",
        data={"event_type": "invoice.paid", "csrf_token": token},
    )
    assert sent.status_code == 303
    delivery_id = sent.location.split("/")[-1].split("?")[0]
    delivery = get_delivery(client, delivery_id)
    assert delivery["endpoint_id"] == chosen["id"]
    event = client.get(f"/v1/events/{delivery['event_id']}").get_json()
    assert event["data"] == example
    assert [d["endpoint_id"] for d in event["deliveries"]] == [chosen["id"]]
    assert other["id"] not in str(event)
    assert queued_delivery_ids(redis_url) == [delivery_id]


def test_test_event_refused_by_the_schema_or_a_disabled_endpoint(
    app: Flask, client: FlaskClient
) -> None:
    """No example where the schema wants fields: 422 naming them; a disabled endpoint: 409."""
    schema = {"type": "object", "required": ["invoice"]}
    client.post("/v1/event-types", json={"name": "invoice.paid", "schema": schema})
    endpoint = create_endpoint(client)
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    test = f"/console/endpoints/{endpoint['id']}/test"
    refused = browser.post(test, data={"event_type": "invoice.paid", "csrf_token": token})
    assert refused.status_code == 422 and "invoice" in refused.get_data(as_text=True)
    client.patch(f"/v1/endpoints/{endpoint['id']}", json={"enabled": False})
    off = browser.post(test, data={"event_type": "other.thing", "csrf_token": token})
    assert off.status_code == 409 and "disabled" in off.get_data(as_text=True)
    # Nothing stored but the operational event of the disabling.
    assert client.get("/v1/events?tenant=default").get_json()["data"] == []


def test_bulk_retry_requeues_the_failed_list_and_shows_progress(
    app: Flask, client: FlaskClient, engine: Engine, redis_url: str
) -> None:
    """Retry all failed: the failed deliveries of the filter go pending; progress counts them."""
    live = create_endpoint(client)
    off = create_endpoint(client)
    failed = []
    for _ in range(3):
        event = post_event(client)
        for delivery in event["deliveries"]:
            set_row(engine, "deliveries", delivery["id"], status="failed", queued_until=None)
            failed.append(delivery)
    succeeded = post_event(client)["deliveries"][0]
    set_row(engine, "deliveries", succeeded["id"], status="succeeded")
    client.patch(f"/v1/endpoints/{off['id']}", json={"enabled": False})
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    listing = browser.get("/console/deliveries?status=failed").get_data(as_text=True)
    assert "Retry all failed" in listing
    assert "Retry all failed" not in browser.get("/console/deliveries").get_data(as_text=True)

    queued = queued_delivery_ids(redis_url)  # the first sends', still there: no worker runs
    started = browser.post("/console/deliveries/retry", data={"csrf_token": token})
    assert started.status_code == 303 and "/console/deliveries/progress" in started.location
    statuses = {d["id"]: get_delivery(client, d["id"])["status"] for d in failed}
    assert {statuses[d["id"]] for d in failed if d["endpoint_id"] == live["id"]} == {"pending"}
    assert {statuses[d["id"]] for d in failed if d["endpoint_id"] == off["id"]} == {"failed"}
    assert get_delivery(client, succeeded["id"])["status"] == "succeeded"
    progress = html.unescape(browser.get(started.location).get_data(as_text=True))
    assert "0 of 3 deliveries sent again" in progress
    # Made due for the scheduler, a batch per pass: nothing floods the queue at once.
    assert queued_delivery_ids(redis_url) == queued


def test_recover_form_resends_what_failed_since(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    """The recover form re-sends an endpoint's failures since the time given (UTC)."""
    endpoint = create_endpoint(client)
    delivery = post_event(client)["deliveries"][0]
    set_row(engine, "deliveries", delivery["id"], status="failed")
    browser = app.test_client()
    token = sign_in(browser, API_KEY)
    since = (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = browser.post(
        f"/console/endpoints/{endpoint['id']}/recover", data={"since": since, "csrf_token": token}
    )
    assert response.status_code == 303
    assert get_delivery(client, delivery["id"])["status"] == "pending"
    bad = browser.post(
        f"/console/endpoints/{endpoint['id']}/recover", data={"since": "soon", "csrf_token": token}
    )
    assert bad.status_code == 422
