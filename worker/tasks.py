"""The two tasks: deliver one delivery, and run one scheduler pass. Thin wrappers over the core."""

from typing import Any

from celery import Celery, Task
from sqlalchemy.exc import DBAPIError

from webhooks.config import Settings
from webhooks.db import is_unavailable
from worker.names import DELIVER, SCHEDULE, TIMED_QUEUE
from worker.runtime import LazyRuntime

# How long to wait before trying again when the database did not answer the claim.
DATABASE_RETRY_SECONDS = 2.0


class RetryLater(Exception):
    """Raised by a task to be run again after `countdown` seconds."""

    def __init__(self, countdown: float, reserved: bool = False) -> None:
        super().__init__(f"retry in {countdown:.1f}s")
        self.countdown = countdown
        self.reserved = reserved  # it waits for an instant its endpoint's rate limit gave it


class DeliveryTask(Task):  # type: ignore[misc]
    """Celery's autoretry, with the countdown taken from the retry schedule in SQL."""

    autoretry_for = (RetryLater,)
    max_retries = None  # the schedule in SQL decides when a delivery has failed
    # RabbitMQ's delayed delivery counts whole seconds, and Celery refuses a countdown that
    # rounds down to 0 there: register() sets 1 on RabbitMQ (the task waits at most 1 s more).
    shortest_countdown = 0.0
    # Where countdowns wait on Redis: not behind the first sends of the delivery queue. (On
    # RabbitMQ they wait in the broker's delay queues; register() leaves it None there.)
    countdown_queue: str | None = TIMED_QUEUE

    def retry(self, *args: Any, exc: BaseException | None = None, **kwargs: Any) -> Any:
        if kwargs.get("countdown") is None and isinstance(exc, RetryLater):
            countdown = exc.countdown
            kwargs["countdown"] = max(countdown, self.shortest_countdown) if countdown else 0
            # Set either way: left out, the next run would inherit this run's arguments.
            kwargs["kwargs"] = {"reserved": True} if exc.reserved else {}
            if self.countdown_queue:
                kwargs["queue"] = self.countdown_queue
        return super().retry(*args, exc=exc, **kwargs)


def register(app: Celery, settings: Settings) -> LazyRuntime:
    """Register the tasks on `app`; return the process's runtime they share."""
    runtime = LazyRuntime(app, settings)

    rabbitmq = settings.broker_is_rabbitmq

    @app.task(
        bind=True,
        base=DeliveryTask,
        name=DELIVER,
        shortest_countdown=1.0 if rabbitmq else 0.0,
        countdown_queue=None if rabbitmq else TIMED_QUEUE,
    )
    def deliver(self: DeliveryTask, delivery_id: str, reserved: bool = False) -> None:
        """Make one attempt of a delivery; ask Celery to run it again if the schedule says so."""
        try:
            again = runtime.get().deliverer.deliver(delivery_id, reserved)
        except DBAPIError as exc:
            if not is_unavailable(exc):
                raise
            # The database is away: nothing was claimed or the record is safe in the lease.
            raise RetryLater(DATABASE_RETRY_SECONDS) from exc
        if again is not None:
            raise RetryLater(again.countdown, again.reserved)

    # Acknowledged on receipt: a pass lost with its worker is simply replaced by the next one.
    @app.task(name=SCHEDULE, acks_late=False)
    def schedule() -> None:
        """Run one requeuer pass."""
        runtime.get().requeuer.tick()

    return runtime
