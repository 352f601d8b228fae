"""The worker's pool: a countdown that falls due runs at once, whatever waits for a thread."""

import threading
from typing import Any

from worker.pool import TaskPool


def _task_args(eta: str | None) -> tuple[Any, ...]:
    # What Celery passes for a task: (type, id, the message's headers, body, ...).
    return ("webhooks.deliver", "id", {"eta": eta, "id": "id"}, b"[]", "application/json", "utf-8")


def test_a_countdown_runs_while_every_thread_for_first_sends_is_busy() -> None:
    pool = TaskPool(limit=1)
    pool.start()
    busy, ran = threading.Event(), threading.Event()
    try:
        first = pool.apply_async(lambda *_: busy.wait(10), args=_task_args(None))
        queued = pool.apply_async(lambda *_: None, args=_task_args(None))
        countdown = pool.apply_async(lambda *_: ran.set(), args=_task_args("2026-12-01T00:00Z"))

        assert ran.wait(5), "the countdown waited behind the first sends"
        countdown.wait(5)
        assert not queued.f.done()  # the first sends' one thread is still taken
    finally:
        busy.set()
        first.wait(5)
        pool.stop()
