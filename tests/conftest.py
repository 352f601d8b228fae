"""Shared fixtures: real databases (SQLite and PostgreSQL), real Redis, real processes.

Layers, as in Flask's tutorial: `env` (what every process of a test sees) -> `settings`
-> `app` -> `client`; `receiver`, `worker` and `beat` are real servers and processes.
"""

import os
import secrets
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import Engine

from api import create_app
from tests.support.faults import RedisServer
from tests.support.processes import CeleryProcess, start_beat, start_worker
from tests.support.rabbitmq import RabbitVhost
from tests.support.receiver import Receiver
from tests.support.resolver import resolve
from webhooks.config import Settings, normalize_database_url
from webhooks.db import make_engine
from webhooks.migrate import upgrade

# Where the real services answer. Redis: a private server the session starts, unless told to
# use another (whose database the tests then empty). PostgreSQL: a database of our own beside it.
TEST_REDIS_URL = os.environ.get("WEBHOOKS_TEST_REDIS_URL")
TEST_POSTGRES_URL = os.environ.get(
    "WEBHOOKS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
API_KEY = "test-key"
TENANT_KEY = "acme-key"  # bound to tenant "acme"
# The sealing key of every test (32 bytes, URL-safe base64, as Fernet.generate_key() prints).
ENCRYPTION_KEY = "dGVzdC1lbmNyeXB0aW9uLWtleS0zMi1ieXRlcy0tLS0="
SECRET_KEY = "test-secret-key-that-signs-console-sessions"
TABLES = (
    "attempts",
    "deliveries",
    "events",
    "endpoints",
    "api_keys",
    "event_types",
    "portal_links",
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test session, migrated once."""
    admin_url = normalize_database_url(TEST_POSTGRES_URL)
    name = f"webhooks_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database: each test runs once on SQLite and once on PostgreSQL.

    Narrow a test to one backend with
    `@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)`.
    """
    if request.param == "sqlite":
        sqlite_url = f"sqlite:///{tmp_path / 'webhooks.db'}"
        upgrade(sqlite_url)
        return sqlite_url
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis this session may empty: its own redis-server on a free port."""
    if TEST_REDIS_URL is not None:
        yield TEST_REDIS_URL
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url()
    server.kill()


@pytest.fixture
def redis_url(session_redis: str) -> str:
    """The test Redis database, emptied."""
    client = redis.Redis.from_url(session_redis)
    client.flushdb()
    client.close()
    return session_redis


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> Iterator[RabbitVhost]:
    """A RabbitMQ vhost of this session's own on the machine's server, deleted at the end."""
    vhost = RabbitVhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture
def rabbitmq_url(rabbitmq_vhost: RabbitVhost) -> str:
    """The session's RabbitMQ vhost, emptied of the last test's messages."""
    rabbitmq_vhost.empty()
    return rabbitmq_vhost.url()


@pytest.fixture
def env(database_url: str, redis_url: str) -> dict[str, str]:
    """The environment every process of a test sees: short schedule, loopback allowed."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEBHOOKS_API_KEYS": f"{API_KEY},{TENANT_KEY}:acme",
        "WEBHOOKS_ENCRYPTION_KEYS": ENCRYPTION_KEY,
        "WEBHOOKS_SECRET_KEY": SECRET_KEY,
        "WEBHOOKS_ALLOW_NETWORKS": "127.0.0.0/8,::1/128",
        "WEBHOOKS_RETRY_SCHEDULE": "0.3,0.3,0.3",
        "WEBHOOKS_DELIVERY_TIMEOUT_SECONDS": "2",
        "WEBHOOKS_LEASE_SECONDS": "5",
        "WEBHOOKS_MAX_COUNTDOWN_SECONDS": "5",
        "WEBHOOKS_SCHEDULER_INTERVAL_SECONDS": "0.5",
        "WEBHOOKS_WORKER_CONCURRENCY": "8",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> Settings:
    """Settings parsed from `env`, as every process parses them."""
    return Settings.from_env(env)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """The API, enqueueing to the real test Redis; host names resolve from a table."""
    app = create_app(settings, resolver=resolve)
    yield app
    app.extensions["webhooks"].engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that sends the unbound API key."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {API_KEY}"
    return client


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """A direct connection to the test database, for looking behind the API."""
    engine = make_engine(settings.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def worker(env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[CeleryProcess]:
    """A real Celery worker process (threads pool) on the test database and Redis."""
    process = start_worker(env)
    yield process
    # Killed, not stopped: the test is over, and a warm shutdown costs seconds per test.
    process.kill()
    _report(request, "worker", process)


@pytest.fixture
def beat(
    env: dict[str, str], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[CeleryProcess]:
    """A real celery beat process driving the scheduler every half second."""
    process = start_beat(env, str(tmp_path / "celerybeat-schedule"))
    yield process
    process.kill()
    _report(request, "beat", process)


def _report(request: pytest.FixtureRequest, name: str, process: CeleryProcess) -> None:
    """Attach a process's output to the report of a failed test."""
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        # Onto the failure's own report, which the summary prints at the end of the run (a
        # section added to the item now would only reach the teardown's report, not shown).
        report.sections.append((f"Captured {name} output", process.output()[-20000:]))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
