"""Who gets an event: matching endpoints, signed as Standard Webhooks, per tenant, once per key."""

import json
import re

from flask import Flask
from flask.testing import FlaskClient
from standardwebhooks.webhooks import Webhook

from tests.support.api import (
    RFC3339,
    TENANT_KEY,
    create_endpoint,
    json_body,
    keyed_client,
    post_event,
    send_event,
    wait_for_delivery,
)
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver


def test_event_reaches_matching_endpoints_signed(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """An event reaches the two endpoints that match its type, signed, and not the third."""
    exact = create_endpoint(client, receiver.url("/exact"), event_types=["invoice.paid"])
    prefix = create_endpoint(client, receiver.url("/prefix"), event_types=["invoice.*"])
    other = create_endpoint(client, receiver.url("/other"), event_types=["customer.created"])

    event = post_event(client, "invoice.paid", {"invoice": "in_1", "amount": 4200})
    assert {d["endpoint_id"] for d in event["deliveries"]} == {exact["id"], prefix["id"]}

    for endpoint, path in ((exact, "/exact"), (prefix, "/prefix")):
        (request,) = receiver.wait_for(1, path)
        # The receiver's own check, with the independent Standard Webhooks library.
        payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
        assert list(payload) == ["type", "timestamp", "data"]
        assert payload["type"] == "invoice.paid"
        assert payload["data"] == {"invoice": "in_1", "amount": 4200}
        assert re.fullmatch(RFC3339, payload["timestamp"])
        assert request.headers["webhook-id"] == event["id"]
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("webhooks/")
    for delivery in event["deliveries"]:
        wait_for_delivery(client, delivery["id"], "succeeded")

    # The third endpoint is alive: it gets the next event of its own type, and only that.
    marker = post_event(client, "customer.created", {"customer": "cus_1"})
    (request,) = receiver.wait_for(1, "/other")
    assert request.headers["webhook-id"] == marker["id"]
    Webhook(other["secret"]).verify(request.body, request.headers)
    assert len(receiver.received("/exact")) == len(receiver.received("/prefix")) == 1


def test_tenant_event_reaches_only_its_tenant(
    app: Flask, client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """An event of tenant "acme" reaches acme's endpoints only, not the default tenant's."""
    acme = keyed_client(app, TENANT_KEY)
    ours = create_endpoint(acme, receiver.url("/acme"))
    theirs = create_endpoint(client, receiver.url("/default"))
    assert (ours["tenant"], theirs["tenant"]) == ("acme", "default")

    event = post_event(acme, "invoice.paid", {"invoice": "in_acme"})
    assert event["tenant"] == "acme"
    assert [d["endpoint_id"] for d in event["deliveries"]] == [ours["id"]]
    (request,) = receiver.wait_for(1, "/acme")
    assert request.headers["webhook-id"] == event["id"]
    wait_for_delivery(client, event["deliveries"][0]["id"], "succeeded")

    # The default tenant's endpoint works, and all it ever saw is its own tenant's event.
    marker = post_event(client, "invoice.paid", {"invoice": "in_default"})
    (request,) = receiver.wait_for(1, "/default")
    assert request.headers["webhook-id"] == marker["id"]
    assert len(receiver.received("/acme")) == 1


def test_idempotency_key_replay_sends_nothing_new(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """Replaying a request with its Idempotency-Key answers as before and sends nothing new."""
    create_endpoint(client, receiver.url("/hook"))
    key = {"Idempotency-Key": "order-42-paid"}
    first = post_event(client, "order.paid", {"order": 42}, headers=key)
    receiver.wait_for(1, "/hook")
    (delivery,) = first["deliveries"]
    wait_for_delivery(client, delivery["id"], "succeeded")

    replay = send_event(client, "order.paid", {"order": 42}, headers=key)
    assert replay.status_code == 200
    assert replay.json == first

    # A later event is delivered; had the replay queued anything, it would have gone before it.
    marker = post_event(client, "order.paid", {"order": 43})
    requests = receiver.wait_for(2, "/hook")
    assert [json.loads(r.body)["data"]["order"] for r in requests] == [42, 43]
    wait_for_delivery(client, marker["deliveries"][0]["id"], "succeeded")
    assert [r.headers["webhook-id"] for r in receiver.received("/hook")] == [
        first["id"],
        marker["id"],
    ]
    deliveries = json_body(client.get("/v1/deliveries", query_string={"event_id": first["id"]}))
    assert [d["id"] for d in deliveries["data"]] == [delivery["id"]]
    assert deliveries["data"][0]["attempt_count"] == 1
