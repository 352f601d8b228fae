"""Both brokers as the API sees them: messages Celery's worker reads, and readiness.

Redis is the test Redis; RabbitMQ is the session's own vhost (tests/support/rabbitmq.py).
"""

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.signals import after_task_publish, before_task_publish
from flask import Flask
from kombu.connection import Connection

from tests.support import free_port
from tests.support.api import API_KEY, create_endpoint, json_body, keyed_client, other_app, problem
from webhooks.config import Settings
from worker.dispatch import CeleryDispatcher
from worker.names import DELIVER, DELIVERY_QUEUE

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def redis_messages(url: str) -> list[dict[str, Any]]:
    """The messages waiting in the Redis delivery queue, oldest first, bodies decoded."""
    client = redis.Redis.from_url(url)
    try:
        raw = client.lrange(DELIVERY_QUEUE, 0, -1)
    finally:
        client.close()
    messages = [json.loads(item) for item in reversed(raw)]
    for message in messages:
        message["body"] = json.loads(base64.b64decode(message["body"]))
    return messages


def rabbitmq_messages(url: str) -> list[dict[str, Any]]:
    """Take every message off the RabbitMQ delivery queue, oldest first, bodies decoded."""
    taken = []
    with Connection(url) as connection:  # type: ignore[no-untyped-call]
        channel = connection.default_channel
        while (message := channel.basic_get(DELIVERY_QUEUE, no_ack=True)) is not None:
            taken.append(
                {"headers": message.headers, "properties": message.properties,
                 "body": json.loads(message.body)}
            )  # fmt: skip
    return taken


def test_messages_are_celery_task_messages_with_any_arguments(settings: Settings) -> None:
    """What the dispatcher publishes is a Celery protocol 2 message: name, id, arguments."""
    dispatcher = CeleryDispatcher.from_settings(settings)
    dispatcher.publish([(DELIVER, ["dlv_1", "ep_1"]), (DELIVER, ["dlv_2", "ep_2"])])
    first, second = redis_messages(settings.broker)
    for message, args in ((first, ["dlv_1", "ep_1"]), (second, ["dlv_2", "ep_2"])):
        headers = message["headers"]
        assert (headers["task"], headers["argsrepr"]) == (DELIVER, repr(args))
        # Each its own task: its id is its root and the correlation id Celery matches on.
        assert headers["id"] == headers["root_id"] == message["properties"]["correlation_id"]
        assert message["body"][0] == args and message["body"][1] == {}
        assert message["properties"]["delivery_info"]["routing_key"] == DELIVERY_QUEUE
    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]


def test_messages_from_a_template_are_those_built_in_full(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without publish signal receivers messages are filled in from one serialised template:
    the same messages as those built one by one, whatever the arguments hold."""
    # None of the receivers another test may have connected (tracing's add headers).
    for signal in (before_task_publish, after_task_publish):
        monkeypatch.setattr(signal, "receivers", [])
    dispatcher = CeleryDispatcher.from_settings(settings)
    tasks = [(DELIVER, ["dlv_1"]), ("other", ["\"q'\\u0000", "\x00id\x00"]), (DELIVER, ["dlv_2"])]

    def published() -> list[dict[str, Any]]:
        dispatcher.publish(tasks)
        taken = redis_messages(settings.broker)
        redis.Redis.from_url(settings.broker).delete(DELIVERY_QUEUE)
        for message in taken:
            headers, properties = message["headers"], message["properties"]
            assert headers["id"] == headers["root_id"] == properties["correlation_id"]
            for own in (headers, properties):
                own.pop("id", None), own.pop("root_id", None), own.pop("correlation_id", None)
            properties.pop("delivery_tag")
        return taken

    templated = published()
    before_task_publish.connect(_add_nothing)  # into the list the monkeypatch put back
    assert published() == templated
    assert [m["body"][0] for m in templated] == [args for _, args in tasks]
    assert [m["headers"]["argsrepr"] for m in templated] == [repr(args) for _, args in tasks]


def _add_nothing(**_: Any) -> None:
    """A publish signal receiver, as tracing connects one."""


@pytest.fixture
def on_rabbitmq(settings: Settings, rabbitmq_url: str) -> Iterator[Flask]:
    """The API with RabbitMQ as its broker."""
    with other_app(settings, broker_url=rabbitmq_url) as app:
        yield app


def test_events_reach_rabbitmq_as_task_messages(on_rabbitmq: Flask, rabbitmq_url: str) -> None:
    """On RabbitMQ each delivery of an event is one message, in the quorum delivery queue."""
    client = keyed_client(on_rabbitmq, API_KEY)
    create_endpoint(client)
    create_endpoint(client)
    accepted = json_body(client.post("/v1/events", json={"type": "a.b", "data": {}}), 202)
    messages = rabbitmq_messages(rabbitmq_url)
    assert [m["body"][0] for m in messages] == [[d["id"]] for d in accepted["deliveries"]]
    assert {m["headers"]["task"] for m in messages} == {DELIVER}
    assert json_body(on_rabbitmq.test_client().get("/readyz"))["broker"] == "ok"


def test_readyz_names_rabbitmq_when_it_does_not_answer(settings: Settings) -> None:
    """RabbitMQ on a closed port: /readyz is 503 naming the broker; events still accepted."""
    dead = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    with other_app(settings, broker_url=dead) as app:
        body = problem(app.test_client().get("/readyz"), 503)
        assert (body["database"], body["broker"]) == ("ok", "unavailable")
        client = keyed_client(app, API_KEY)
        create_endpoint(client)
        assert client.post("/v1/events", json={"type": "a.b", "data": {}}).status_code == 202
