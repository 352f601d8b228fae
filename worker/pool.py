"""The worker's thread pool, with a lane of its own for countdowns that come due.

Celery runs a countdown task (a retry, or a delivery waiting for its rate limit's instant)
when it falls due, through the same pool as every other task. But each countdown the worker
holds lets it fetch one more message, so behind a backlog its pool's queue fills with first
sends, and a countdown that falls due waits behind all of them: seconds late, and then sent
beside the ones after it, over its endpoint's rate limit. Here countdowns run on threads of
their own, as many as the pool has, and start when they are due.
"""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery.concurrency.base import apply_target
from celery.concurrency.thread import ApplyResult
from celery.concurrency.thread import TaskPool as ThreadTaskPool


class TaskPool(ThreadTaskPool):  # type: ignore[misc]
    """Celery's thread pool, and as many threads again for countdown tasks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timed = ThreadPoolExecutor(max_workers=self.limit, thread_name_prefix="timed")

    def on_stop(self) -> None:
        self.timed.shutdown(cancel_futures=True)
        super().on_stop()

    def on_apply(
        self,
        target: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        callback: Any = None,
        accept_callback: Any = None,
        **_: Any,
    ) -> ApplyResult:
        lane = self.timed if _is_countdown(args) else self.executor
        future = lane.submit(apply_target, target, args, kwargs, callback, accept_callback)
        return ApplyResult(future)


def _is_countdown(args: tuple[Any, ...] | None) -> bool:
    # Celery's arguments for a task: (type, id, the message's headers, body, ...); a
    # countdown's headers carry its ETA.
    if not args or len(args) < 3 or not isinstance(args[2], dict):
        return False
    return args[2].get("eta") is not None
