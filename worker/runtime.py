"""What a worker process needs to run tasks, built once from Settings on the first task."""

import gc
import threading

from celery import Celery

from webhooks import USER_AGENT
from webhooks.config import Settings
from webhooks.db import make_engine
from webhooks.delivery.broker_loss import BrokerWatch
from webhooks.delivery.deliverer import Deliverer
from webhooks.delivery.requeue import Requeuer
from webhooks.delivery.sender import Sender
from webhooks.delivery.throttle import Throttle
from webhooks.observability.attempts import AttemptObserver
from webhooks.observability.metrics import DeliveryMetrics
from webhooks.security.guard import NetworkGuard
from worker.dispatch import CeleryDispatcher


class Runtime:
    """The engine, the deliverer and the requeuer of one worker process."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        # Threads hold a connection only while claiming or recording, not while sending.
        # No pre-ping: a connection lost to a database restart fails one claim, which is
        # retried, or one record, which waits and tries again (webhooks/delivery/deliverer.py).
        self.engine = make_engine(
            settings.database_url,
            pool_size=min(settings.worker_concurrency, 20),
            pre_ping=False,
        )
        guard = NetworkGuard(settings.allow_networks)
        sender = Sender(
            guard, settings.delivery_timeout_seconds, USER_AGENT, proxy=settings.egress_proxy
        )
        self.metrics = DeliveryMetrics.create()
        observe = AttemptObserver(self.metrics)
        dispatcher = CeleryDispatcher(app, settings)
        throttle = Throttle.from_settings(settings)
        self.deliverer = Deliverer(
            settings, self.engine, sender, throttle, dispatcher, observe=observe
        )
        self.requeuer = Requeuer(
            settings,
            self.engine,
            dispatcher,
            broker=BrokerWatch.from_settings(settings),
            throttle=throttle,
        )


class LazyRuntime:
    """Build the Runtime on first use: `celery -A worker` imports the app in every process."""

    def __init__(self, app: Celery, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self._runtime: Runtime | None = None
        self._lock = threading.Lock()

    def get(self) -> Runtime:
        """Return the process's Runtime, building it once."""
        # The first tasks of a threads pool arrive together: only one of them may build it.
        with self._lock:
            if self._runtime is None:
                self._runtime = Runtime(self.app, self.settings)
                # What exists now lives as long as the process: frozen out of the collector's
                # reach, a full collection no longer walks it (60 to 100 ms every few seconds
                # under load, during which no delivery moves).
                gc.freeze()
            return self._runtime
