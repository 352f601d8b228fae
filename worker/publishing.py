"""Celery task messages, built and serialised once, put on the broker in one batch.

`send_task` costs about half a millisecond per message (routing, signals, serialising, one
broker round trip each); an event with a thousand subscribers cannot wait for that. Here a
message is Celery's own (protocol 2, from `app.amqp.as_task_v2`), its body is serialised once,
and a batch goes out together: one LPUSH on Redis, one channel on RabbitMQ.
"""

import base64
import json
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from celery import Celery
from celery.signals import after_task_publish, before_task_publish
from redis.backoff import NoBackoff
from redis.retry import Retry

Task = tuple[str, list[Any]]  # a task's name and its positional arguments
CONTENT_TYPE = "application/json"
ENCODING = "utf-8"


@dataclass(frozen=True)
class Message:
    """One task message: AMQP-style headers and properties, and the serialised body."""

    headers: dict[str, Any]
    properties: dict[str, Any]
    body: bytes


def task_messages(app: Celery, queue: str, tasks: Sequence[Task]) -> Iterator[Message]:
    """Celery's message for each task, its body serialised.

    Celery builds one message per task name of the batch; each task then changes only what
    is its own (its id and its arguments): a thousand messages cost a thousand small dicts,
    not a thousand trips through `as_task_v2`. Celery's publish signals go out as
    `send_task` sends them, before the headers are serialised (tracing adds its `traceparent`
    there); `after_task_publish` follows at once, as the batch goes out later, in one piece.
    """
    templates: dict[str, Any] = {}
    for name, args in tasks:
        template = templates.get(name)
        if template is None:
            template = templates[name] = app.amqp.as_task_v2(
                "", name, ignore_result=True, kwargsrepr="{}"
            )
        task_id = str(uuid.uuid4())
        _, kwargs, embed = template.body
        # A task is its own root (nothing called it); repr(), not Celery's saferepr: the
        # arguments are a few short ids.
        headers = {**template.headers, "id": task_id, "root_id": task_id, "argsrepr": repr(args)}
        properties = {**template.properties, "correlation_id": task_id}
        body = (args, kwargs, embed)
        if before_task_publish.receivers:
            before_task_publish.send(
                sender=name, body=body, exchange="", routing_key=queue, declare=[],
                headers=headers, properties=properties, retry_policy=None,
            )  # fmt: skip
        if after_task_publish.receivers:
            after_task_publish.send(
                sender=name, body=body, headers=headers, exchange="", routing_key=queue
            )
        yield Message(headers, properties, json.dumps(body, separators=(",", ":")).encode())


class Publisher(Protocol):
    """Puts a batch of tasks on one queue; raises if the broker did not take them."""

    def publish(self, queue: str, tasks: Sequence[Task]) -> None: ...


class RedisPublisher:
    """LPUSH every message in one command, in kombu's Redis message format.

    kombu's own batch makes a new redis-py client per batch (a quarter of a millisecond of
    Python, per event): this keeps one client, and one connection pool, for the process.
    """

    def __init__(self, app: Celery, url: str) -> None:
        self.app = app
        options = app.conf.broker_transport_options
        self.client = redis.Redis.from_url(
            url,
            socket_timeout=options["socket_timeout"],
            socket_connect_timeout=options["socket_connect_timeout"],
            health_check_interval=options["health_check_interval"],
            # One quick second try, as the publish retry policy allows: then the caller
            # leaves the deliveries to the scheduler.
            retry=Retry(NoBackoff(), 1),
        )
        self.templates: dict[tuple[int, str, str], tuple[str, str]] = {}

    def publish(self, queue: str, tasks: Sequence[Task]) -> None:
        if not tasks:
            return  # LPUSH needs at least one value
        messages: Iterator[bytes]
        if before_task_publish.receivers or after_task_publish.receivers:
            # A receiver (tracing) may change each message's headers: each is built in full.
            messages = (envelope(queue, m) for m in task_messages(self.app, queue, tasks))
        else:
            messages = self.filled(queue, tasks)
        # One LPUSH of them all, in order: the first pushed is the first a worker pops, as
        # with one LPUSH each, and one command is packed and answered instead of a thousand.
        self.client.lpush(queue, *messages)

    def template(self, queue: str, name: str) -> tuple[str, str]:
        """The envelope of `name`'s messages on `queue` with markers for their own values,
        and the end of their body (made once per process: the message names its process)."""
        key = (os.getpid(), queue, name)
        if key not in self.templates:
            (model,) = task_messages(self.app, queue, [(name, [])])
            headers = {**model.headers, "id": _ID, "root_id": _ID, "argsrepr": _REPR}
            properties = {**model.properties, "correlation_id": _ID}
            # The task's id is unique, so it serves as the broker's delivery tag as well.
            shell = envelope(queue, Message(headers, properties, b""), body=_BODY, tag=_ID)
            # The body is [args, kwargs, embed]: all but the arguments are the model's.
            rest = json.dumps(json.loads(model.body)[1:], separators=(",", ":"))[1:-1]
            self.templates[key] = (shell.decode(), rest)
        return self.templates[key]

    def filled(self, queue: str, tasks: Sequence[Task]) -> Iterator[bytes]:
        """Each task's envelope, as `envelope` writes it, from one serialised per task name.

        Serialising a thousand envelopes one by one cost a fan-out to a thousand endpoints
        30 ms; filling in the few values each message has of its own costs a few.
        """
        random = os.urandom(16 * len(tasks))  # one draw for every task id
        for number, (name, args) in enumerate(tasks):
            text, rest = self.template(queue, name)
            body = f"[{json.dumps(args, separators=(',', ':'))},{rest}]".encode()
            task_id = str(uuid.UUID(bytes=random[16 * number : 16 * number + 16], version=4))
            yield (
                text.replace(_WRITTEN[_ID], task_id)
                .replace(_WRITTEN[_BODY], base64.b64encode(body).decode())
                # Last: the only one made from the arguments.
                .replace(_WRITTEN[_REPR], json.dumps(repr(args))[1:-1])
                .encode()
            )


# What stands for a message's own values in a template, and how JSON writes it: with a NUL,
# which JSON writes as `\u0000` and no other value of a message holds.
_ID, _REPR, _BODY = (f"\x00{what}\x00" for what in ("id", "repr", "body"))
_WRITTEN = {marker: json.dumps(marker)[1:-1] for marker in (_ID, _REPR, _BODY)}


def envelope(
    queue: str, message: Message, body: str | None = None, tag: str | None = None
) -> bytes:
    """The JSON kombu's Redis transport stores, as its `basic_publish` would write it."""
    envelope = {
        "body": base64.b64encode(message.body).decode() if body is None else body,
        "content-encoding": ENCODING,
        "content-type": CONTENT_TYPE,
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": 2,
            # Straight to the queue by name (the default exchange): no binding to lose
            # when Redis is flushed.
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()) if tag is None else tag,
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


class KombuPublisher:
    """Publish through kombu on one connection and one channel (RabbitMQ)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def publish(self, queue: str, tasks: Sequence[Task]) -> None:
        declared = self.app.amqp.queues[queue]
        messages = list(task_messages(self.app, queue, tasks))
        with self.app.producer_or_acquire() as producer:
            for message in messages:
                producer.publish(
                    message.body,
                    # By queue name through the default exchange; `declare` makes sure the
                    # queue exists before the first message, or RabbitMQ would drop it.
                    exchange="",
                    routing_key=queue,
                    declare=[declared],
                    headers=message.headers,
                    content_type=CONTENT_TYPE,
                    content_encoding=ENCODING,
                    delivery_mode=2,
                    retry=True,
                    retry_policy=self.app.conf.task_publish_retry_policy,
                    **message.properties,
                )
