"""The web server: `gunicorn --worker-class api.server.BufferedWorker 'api:create_app()'`."""

from api.server.worker import BufferedWorker

__all__ = ["BufferedWorker"]
