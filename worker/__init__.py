"""The Celery side: the app `celery -A worker` finds, its tasks, and the dispatcher the API uses."""

from typing import Any


def __getattr__(name: str) -> Any:
    # Built on first use, so that the API can import worker.dispatch without reading
    # the environment a second time.
    if name == "app":
        from worker.app import app

        return app
    raise AttributeError(name)
