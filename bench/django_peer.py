"""django-webhook, a Celery-based peer, as it ships: for bench/peers.py.

It lives in a virtualenv of its own (`.bench-peers/`, made on first use from PyPI: Django and
django-webhook never enter the project's), with a one-model Django project written to a
temporary directory. Each saved `Thing` makes django-webhook queue one `fire_webhook` task;
its workers then POST them (a new `requests.Session` each, and a `WebhookEvent` row per call).
"""

import contextlib
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import make_url

from bench.receiver import Receiver
from bench.support import LOGS, ROOT, process, wait_for

VENV = ROOT / ".bench-peers"
REQUIREMENTS = (
    "django-webhook==0.0.15",
    "django>=4.2,<6",
    "celery[redis]>=5.4",
    "psycopg[binary]>=3.1",
)

SETTINGS = """
import os
from urllib.parse import urlsplit

database = urlsplit(os.environ["PEER_DATABASE_URL"])
SECRET_KEY = "bench"
USE_TZ = True
INSTALLED_APPS = ["django.contrib.contenttypes", "django_webhook", "things"]
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": database.path.lstrip("/"),
    "USER": database.username or "", "PASSWORD": database.password or "",
    "HOST": database.hostname or "", "PORT": database.port or "",
}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DJANGO_WEBHOOK = {"MODELS": ["things.Thing"]}
CELERY_BROKER_URL = os.environ["PEER_BROKER_URL"]
"""
MODELS = """
from django.db import models


class Thing(models.Model):
    n = models.IntegerField()
"""
CELERY_APP = """
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_settings")
app = Celery("peer")
app.config_from_object("django.conf:settings", namespace="CELERY")

import django  # noqa: E402

django.setup()  # imports django_webhook's tasks, on this (the current) app
"""
SEED = """
import sys

import peer_celery  # noqa: F401  (the Celery app the signals publish with)
from django_webhook.models import Webhook, WebhookSecret, WebhookTopic
from things.models import Thing

url, count = sys.argv[1], int(sys.argv[2])
webhook, new = Webhook.objects.get_or_create(url=url)  # one webhook, however many runs
if new:
    webhook.topics.add(WebhookTopic.objects.get_or_create(name="things.Thing/create")[0])
    WebhookSecret.objects.create(webhook=webhook, token="bench-secret-token")
for n in range(count):
    Thing.objects.create(n=n)  # post_save: one fire_webhook task
"""


def python() -> Path | None:
    """The peer virtualenv's Python, made and installed on first use; None if it cannot be."""
    interpreter = VENV / "bin" / "python"
    marker = VENV / ".installed"
    if marker.exists():
        return interpreter
    made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True)
    if made.returncode:
        return None
    pip = [str(interpreter), "-m", "pip", "install", "--quiet", *REQUIREMENTS]
    if subprocess.run(pip, capture_output=True, timeout=600).returncode:
        return None
    marker.touch()
    return interpreter


@contextlib.contextmanager
def project(interpreter: Path, database_url: str, broker_url: str) -> Iterator[dict[str, str]]:
    """Write the Django project, create its tables; yield the environment to run it with."""
    with tempfile.TemporaryDirectory(prefix="webhooks-peer-") as directory:
        root = Path(directory)
        (root / "things").mkdir()
        (root / "things" / "__init__.py").write_text("")
        (root / "things" / "models.py").write_text(textwrap.dedent(MODELS))
        (root / "peer_settings.py").write_text(textwrap.dedent(SETTINGS))
        (root / "peer_celery.py").write_text(textwrap.dedent(CELERY_APP))
        (root / "peer_seed.py").write_text(textwrap.dedent(SEED))
        plain = make_url(database_url).set(drivername="postgresql")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": directory,
            "DJANGO_SETTINGS_MODULE": "peer_settings",
            "PEER_DATABASE_URL": plain.render_as_string(hide_password=False),
            "PEER_BROKER_URL": broker_url,
        }
        manage = [str(interpreter), "-m", "django", "migrate", "--run-syncdb", "--verbosity", "0"]
        subprocess.run(manage, env=env, cwd=directory, check=True, capture_output=True)
        yield env


def deliveries_per_second(
    interpreter: Path, env: dict[str, str], target: Receiver, count: int, workers: int, threads: int
) -> float:
    """Queue `count` webhooks, then start the workers: their rate, first to last arrival."""
    target.reset()
    seed = [str(interpreter), "-m", "peer_seed", target.url(), str(count)]
    subprocess.run(seed, env=env, cwd=env["PYTHONPATH"], check=True, capture_output=True)
    with contextlib.ExitStack() as stack:
        for number in range(workers):
            log = LOGS / f"bench-peer-worker-{number}.log"
            command = [str(interpreter), "-m", "celery", "-A", "peer_celery", "worker"]
            command += ["-P", "threads", "-c", str(threads), "-n", f"peer{number}-{os.getpid()}@%h"]
            command += ["--without-mingle", "--without-gossip", "--loglevel", "WARNING"]
            stack.enter_context(process(command, env, log))
        wait_for(lambda: target.stats().count >= count, 600, f"{count} django-webhook arrivals")
    stats = target.stats()
    assert stats.first is not None and stats.last is not None
    return (count - 1) / (stats.last - stats.first)
