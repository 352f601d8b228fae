"""gunicorn's settings for the web process: `gunicorn --config python:api.server.config ...`.

The command line keeps the settings an operator tunes (workers, threads, bind); these are the
ones the service needs whatever they are.
"""

from api.server import metrics_dir
from api.server.logger import ServiceLogger

# Every line the web process prints is formatted as the service's others are.
logger_class = ServiceLogger
# One set of counters for all workers (see api/metrics.py).
on_starting = metrics_dir.prepare
child_exit = metrics_dir.worker_exited
on_exit = metrics_dir.remove
