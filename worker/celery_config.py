"""Build a configured Celery app from Settings; every choice here serves at-least-once delivery."""

import logging
import threading
from typing import Any

from celery import Celery
from kombu import Queue  # type: ignore[attr-defined]

from webhooks import USER_AGENT
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.delivery import Deliverer
from webhooks.guard import NetworkGuard
from webhooks.scheduler import Scheduler
from webhooks.sender import Sender

DELIVER = "webhooks.deliver"
SCHEDULE = "webhooks.schedule"
DELIVERY_QUEUE = "webhooks"
SCHEDULER_QUEUE = "webhooks.schedule"
# How long the API's publisher waits on Redis per try; an LPUSH takes a millisecond.
PUBLISH_TIMEOUT_SECONDS = 1.0


class WebhookCelery(Celery):  # type: ignore[misc]
    """A Celery app that carries its Settings and builds the delivery machinery on first use."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__("webhooks", **kwargs)
        self.settings = settings
        self._runtime: Runtime | None = None
        self._runtime_lock = threading.Lock()

    @property
    def runtime(self) -> "Runtime":
        """The engine, sender, deliverer and scheduler, built once per worker process."""
        # The first tasks of a threads pool arrive together: only one of them may build it.
        with self._runtime_lock:
            if self._runtime is None:
                self._runtime = Runtime(self)
            return self._runtime


class Runtime:
    """What a worker process needs to run tasks, built from Settings."""

    def __init__(self, app: WebhookCelery) -> None:
        from worker.dispatch import CeleryDispatcher

        settings = app.settings
        # Threads hold a connection only while claiming or recording, not while sending.
        # No pre-ping: a connection lost to a database restart fails one claim, which is
        # retried, or one record, which waits and tries again (webhooks/delivery.py).
        self.engine = make_engine(
            settings.database_url,
            pool_size=min(settings.worker_concurrency, 20),
            pre_ping=False,
        )
        guard = NetworkGuard(settings.allow_networks)
        sender = Sender(guard, settings.delivery_timeout_seconds, USER_AGENT)
        self.deliverer = Deliverer(settings, self.engine, sender)
        self.scheduler = Scheduler(settings, self.engine, CeleryDispatcher(app))


def make_celery(settings: Settings, *, publisher: bool = False) -> WebhookCelery:
    """Return a Celery app for `settings`, with the delivery and scheduler tasks registered.

    `publisher`: the app only publishes, while a client waits (the API); it gives up on a
    broker that does not answer within seconds and leaves the rest to the scheduler.
    """
    app = WebhookCelery(settings, broker=settings.redis_url, set_as_current=False)
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
        task_routes={SCHEDULE: {"queue": SCHEDULER_QUEUE}},
        beat_schedule={
            "scheduler": {
                "task": SCHEDULE,
                "schedule": interval,
                # A pass that waited a whole interval is stale: the next one replaces it.
                "options": {"expires": interval},
            }
        },
        enable_utc=True,
        timezone="UTC",
        worker_hijack_root_logger=True,
        worker_redirect_stdouts=False,
    )
    logging.getLogger("webhooks").setLevel(settings.log_level)
    from worker.tasks import register

    register(app)
    return app
