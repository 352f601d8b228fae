"""Configure a Celery app from Settings; every choice here serves at-least-once delivery."""

import logging
from typing import Any

from celery import Celery
from kombu import Exchange, Queue  # type: ignore[attr-defined]

from webhooks.config import Settings, broker_scheme
from worker import redis_transport
from worker.maintenance import retention_schedule
from worker.names import DELIVERY_QUEUE, PURGE, SCHEDULE, SCHEDULER_QUEUE, TIMED_QUEUE

# In the order a Redis worker takes from them: a scheduler pass first, then countdowns that
# are due, then first sends.
REDIS_QUEUES = (SCHEDULER_QUEUE, TIMED_QUEUE, DELIVERY_QUEUE)
# How long the API's publisher waits on the broker per try; a publish takes a millisecond.
PUBLISH_TIMEOUT_SECONDS = 1.0


def make_celery(settings: Settings, *, publisher: bool = False) -> Celery:
    """Return a Celery app configured for `settings` (tasks are registered by worker.tasks).

    `publisher`: the app only publishes, while a client waits (the API); it gives up on a
    broker that does not answer within seconds and leaves the rest to the scheduler.
    """
    app = Celery("webhooks", broker=settings.broker, set_as_current=False)
    interval = settings.scheduler_interval_seconds
    rabbitmq = settings.broker_is_rabbitmq
    app.conf.update(
        # Acknowledge after the task ran, and hand the message back if the worker dies:
        # the SQL claim makes a second run harmless, a lost message would not be.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Reserve one message per thread, so a dying worker takes few with it (the scheduler
        # re-queues those once their queued mark is a lease old).
        worker_prefetch_multiplier=1,
        worker_pool="threads",  # delivery is I/O-bound: threads, not a process per request
        worker_concurrency=settings.worker_concurrency,
        # A worker or beat that starts before the broker waits for it, and one that loses it
        # reconnects for as long as it takes, rather than exiting: nothing is lost meanwhile.
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # No result backend: the audit table is the result.
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        # Task events cost three publishes per task (a fifth of a worker's time): off unless
        # Flower runs, which switches them on in every worker it sees (its --enable_events).
        worker_send_task_events=False,
        task_send_sent_event=False,
        # An attempt that is under way when the broker goes away still records its outcome in
        # SQL; cancelling it would only make the scheduler send it again after its lease.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options=(
            _rabbitmq_options(publisher) if rabbitmq else _redis_options(settings, publisher)
        ),
        # The API must answer quickly while the broker is down; the scheduler covers it.
        task_publish_retry_policy={
            "max_retries": 1 if publisher else 2,
            "interval_start": 0,
            "interval_step": 0.25,
            "interval_max": 0.5,
        },
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=DELIVERY_QUEUE,
        task_queues=_rabbitmq_queues() if rabbitmq else _redis_queues(),
        task_routes={SCHEDULE: {"queue": SCHEDULER_QUEUE}, PURGE: {"queue": SCHEDULER_QUEUE}},
        beat_schedule={
            "scheduler": {
                "task": SCHEDULE,
                "schedule": interval,
                # A pass that waited a whole interval is stale: the next one replaces it.
                "options": {"expires": interval},
            },
            **retention_schedule(settings),
        },
        # kombu's Redis transport, made leaner and sturdier (see the module); the URL still
        # says where Redis is, this only names the class that talks to it.
        broker_transport=(
            redis_transport.NAME
            if broker_scheme(settings.broker) in redis_transport.SCHEMES
            else None
        ),
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,
    )
    if rabbitmq:
        # Connecting is the only wait on RabbitMQ (publishing is fire-and-forget).
        app.conf.broker_connection_timeout = PUBLISH_TIMEOUT_SECONDS if publisher else 4
        # A worker that reconnects faster than RabbitMQ notices its old connection is gone
        # would find its remote-control queue (or Flower its event queue) still held
        # exclusively by that connection, and Celery stops the worker ("Unrecoverable error:
        # RESOURCE_LOCKED"). Shared queues that expire when unused are redeclared instead.
        app.conf.control_queue_exclusive = False
        app.conf.event_queue_exclusive = False
    logging.getLogger("webhooks").setLevel(settings.log_level)
    return app


def _redis_options(settings: Settings, publisher: bool) -> dict[str, Any]:
    # A Redis that hangs (it takes the connection, never answers) costs socket_timeout per
    # try. A worker can wait; a client of the API cannot (10 s held a POST for 40 s).
    socket_timeout = PUBLISH_TIMEOUT_SECONDS if publisher else 10
    return {
        # Redis re-delivers an unacknowledged message after this long, and a worker fetches a
        # countdown task at once and holds it unacknowledged until it ran: this must outlast
        # the longest countdown plus a lease, or waiting retries run twice.
        "visibility_timeout": settings.visibility_timeout_seconds,
        # kombu's default pool holds 10 connections; every thread acknowledges and re-queues
        # through it, so it must be larger than the concurrency.
        "max_connections": settings.worker_concurrency * 2 + 10,
        # Above kombu's 1 s BRPOP, so an idle consumer is not mistaken for a dead one.
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": min(socket_timeout, 5),
        "health_check_interval": 30,  # find a connection Redis dropped before using it
        # Take from the queues in REDIS_QUEUES' order, not in turn: a countdown is fetched as soon
        # as it is published, however long the backlog of first sends, and runs on time.
        "queue_order_strategy": "priority",
    }


def _rabbitmq_options(publisher: bool) -> dict[str, Any]:
    # A RabbitMQ that takes the connection and never answers: the API gives up within a
    # second per try, as on Redis. Workers keep py-amqp's defaults: AMQP heartbeats find
    # a dead connection, and a read timeout would break their idle wait for messages.
    if not publisher:
        return {}
    return {"read_timeout": PUBLISH_TIMEOUT_SECONDS, "write_timeout": PUBLISH_TIMEOUT_SECONDS}


def _redis_queues() -> tuple[Queue, ...]:
    # Three queues: scheduler passes and countdowns never wait behind a backlog of first
    # sends. Each has its own routing key: with Celery's default all would be bound to
    # "webhooks", and a message published through the exchange would land in each. (Messages
    # are published to the queue by name, which also survives a FLUSHALL that drops kombu's
    # bindings.)
    return tuple(Queue(name, routing_key=name) for name in REDIS_QUEUES)


def _rabbitmq_queues() -> tuple[Queue, ...]:
    # Quorum queues: replicated and durable, a message survives a node's restart. Celery
    # sees them and (a) switches to per-consumer prefetch, since quorum queues have no global
    # QoS, and (b) sends countdowns through RabbitMQ's native delayed delivery, so a retry
    # waits in the broker rather than unacknowledged in a worker (no consumer_timeout to
    # outlast; and no queue of their own for countdowns, which wait in the broker).
    # Delayed delivery routes through topic exchanges, hence one per queue.
    return tuple(
        Queue(
            name,
            Exchange(name, type="topic"),
            routing_key=name,
            queue_arguments={"x-queue-type": "quorum"},
        )
        for name in (DELIVERY_QUEUE, SCHEDULER_QUEUE)
    )
