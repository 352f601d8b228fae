"""Configure a Celery app from Settings; every choice here serves at-least-once delivery."""

import logging

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from webhooks.config import Settings
from worker.maintenance import retention_schedule
from worker.names import DELIVERY_QUEUE, PURGE, SCHEDULE, SCHEDULER_QUEUE

# How long the API's publisher waits on Redis per try; an LPUSH takes a millisecond.
PUBLISH_TIMEOUT_SECONDS = 1.0


def make_celery(settings: Settings, *, publisher: bool = False) -> Celery:
    """Return a Celery app configured for `settings` (tasks are registered by worker.tasks).

    `publisher`: the app only publishes, while a client waits (the API); it gives up on a
    broker that does not answer within seconds and leaves the rest to the scheduler.
    """
    app = Celery("webhooks", broker=settings.redis_url, set_as_current=False)
    interval = settings.scheduler_interval_seconds
    # A Redis that hangs (it takes the connection, never answers) costs socket_timeout per
    # try. A worker can wait; a client of the API cannot (10 s held a POST for 40 s).
    socket_timeout = PUBLISH_TIMEOUT_SECONDS if publisher else 10
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
        # A worker or beat that starts before Redis waits for it, and one that loses it
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
        # An attempt that is under way when Redis goes away still records its outcome in SQL;
        # cancelling it would only make the scheduler send it again after its lease.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={
            # Redis re-delivers an unacknowledged message after this long, and a worker
            # fetches a countdown task at once and holds it unacknowledged until it ran: this
            # must outlast the longest countdown plus a lease, or waiting retries run twice.
            "visibility_timeout": settings.visibility_timeout_seconds,
            # kombu's default pool holds 10 connections; every thread acknowledges and
            # re-queues through it, so it must be larger than the concurrency.
            "max_connections": settings.worker_concurrency * 2 + 10,
            # Above kombu's 1 s BRPOP, so an idle consumer is not mistaken for a dead one.
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": min(socket_timeout, 5),
            "health_check_interval": 30,  # find a connection Redis dropped before using it
        },
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
        # Two queues: scheduler passes never wait behind a backlog of deliveries. Each has
        # its own routing key: with Celery's default both would be bound to "webhooks", and
        # a message published through the exchange would land in both. (Celery publishes to
        # the queue by name, which also survives a FLUSHALL that drops kombu's bindings.)
        task_queues=(
            Queue(DELIVERY_QUEUE, routing_key=DELIVERY_QUEUE),
            Queue(SCHEDULER_QUEUE, routing_key=SCHEDULER_QUEUE),
        ),
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
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,
    )
    logging.getLogger("webhooks").setLevel(settings.log_level)
    return app
