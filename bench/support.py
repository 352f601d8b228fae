"""What the benchmarks share: private brokers, a throwaway database, processes, the web server."""

import asyncio
import contextlib
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit
from urllib.request import urlopen

import redis
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, make_url, text

from webhooks.config import normalize_database_url
from webhooks.migrate import upgrade

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEFAULT_RABBITMQ = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")
# Where the processes a benchmark starts write their output (named in its error messages).
LOGS = Path(os.environ.get("BENCH_LOGS", "/tmp"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(
    check: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Poll `check` until it is truthy; exit with a message after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(interval)


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """A Redis of our own on a free port (the benchmark fills and empties queues freely)."""
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not on PATH (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except redis.RedisError:
            return False

    try:
        wait_for(answers, 10, "the private Redis")
        yield url
    finally:
        process.terminate()
        process.wait()


@contextlib.contextmanager
def throwaway_database(admin_url: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database next to `admin_url`'s, dropped afterwards."""
    admin_url = normalize_database_url(admin_url)
    name = f"webhooks_bench_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class _Fast200(asyncio.Protocol):
    """Answer every HTTP/1.1 request with an empty 200, keeping the connection open."""

    REPLY = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            length = 0
            for line in self.buffer[:head_end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.transport.write(self.REPLY)


def _serve(port: int, ready: "multiprocessing.synchronize.Event") -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Fast200, "127.0.0.1", port, backlog=1024)
        ready.set()
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(main())


@contextlib.contextmanager
def fast_receiver() -> Iterator[str]:
    """An asyncio receiver in a process of its own, so it is never the bottleneck."""
    port = free_port()
    ready = multiprocessing.Event()
    process = multiprocessing.Process(target=_serve, args=(port, ready), daemon=True)
    process.start()
    if not ready.wait(10):
        sys.exit("the receiver did not start")
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        process.terminate()
        process.join()


def child_env(**settings: str) -> dict[str, str]:
    """This environment without the project's settings, plus a sealing key and `settings`."""
    own = ("WEBHOOKS_", "DATABASE_URL", "REDIS_URL", "BROKER_URL")
    env = {name: value for name, value in os.environ.items() if not name.startswith(own)}
    return {**env, "WEBHOOKS_ENCRYPTION_KEYS": Fernet.generate_key().decode(), **settings}


@contextlib.contextmanager
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command` (output to `log`); stop it and everything it started afterwards."""
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield child
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()


def rate(count: int, seconds: float) -> str:
    """`count` things in `seconds` as a rate line."""
    return f"{count / seconds:8.0f}/s  ({count} in {seconds:.2f} s)"


@contextlib.contextmanager
def rabbitmq_vhost(server: str = DEFAULT_RABBITMQ) -> Iterator[str]:
    """A RabbitMQ vhost of our own on the machine's server (made and deleted with rabbitmqctl)."""
    if shutil.which("rabbitmqctl") is None:
        sys.exit("rabbitmqctl is not on PATH: cannot make a RabbitMQ vhost to measure on")
    name = f"webhooks_bench_{os.getpid()}_{secrets.token_hex(3)}"
    user = urlsplit(server).username or "guest"
    for command in (["add_vhost", name], ["set_permissions", "-p", name, user, ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", *command], check=True, capture_output=True)
    try:
        yield urlunsplit(urlsplit(server)._replace(path="/" + quote(name, safe="")))
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], check=False, capture_output=True)


@contextlib.contextmanager
def broker(name: str) -> Iterator[str]:
    """A broker of our own: "redis" (a private server) or "rabbitmq" (a private vhost)."""
    with private_redis() if name == "redis" else rabbitmq_vhost() as url:
        yield url


def web_command(app: str) -> list[str]:
    """The Procfile's `web` command, serving `app` instead of the API.

    The one place the benchmarks choose a web server: the service and its baseline run
    under exactly what production runs, with the same workers and threads.
    """
    for line in (ROOT / "Procfile").read_text().splitlines():
        role, _, command = line.partition(":")
        if role.strip() == "web":
            return ["sh", "-c", "exec " + command.strip().replace("api:create_app", app)]
    sys.exit("the Procfile has no web process")


@contextlib.contextmanager
def web_server(app: str, env: dict[str, str], log: Path) -> Iterator[str]:
    """Serve `app` (a factory, "module:function") with the Procfile's web command; yield its URL."""
    port = free_port()
    env = {"WEB_CONCURRENCY": "2", "WEB_THREADS": "8", **env, "PORT": str(port)}
    # The Procfile names its programs bare: find them in this virtualenv first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    url = f"http://127.0.0.1:{port}"
    with process(web_command(app), env, log):
        wait_for(lambda: _answers(url + "/healthz"), 60, f"the web server for {app} (see {log})")
        yield url


def _answers(url: str) -> bool:
    try:
        urlopen(url, timeout=5).close()
        return True
    except OSError:  # not listening yet, or still loading the app
        return False


@contextlib.contextmanager
def workers(
    count: int, env: dict[str, str], app: str = "worker", concurrency: int = 25
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` Celery worker processes of `app` (its configured threads pool), started and
    ready."""
    # No metrics port: several workers on one host would race for it.
    env = {"WEBHOOKS_WORKER_METRICS_PORT": "0", **env}
    with contextlib.ExitStack() as stack:
        started = []
        for number in range(count):
            log = LOGS / f"bench-{app.replace('.', '-')}-{number}.log"
            command = [sys.executable, "-m", "celery", "-A", app, "worker", "--loglevel", "INFO"]
            command += ["-n", f"bench{number}-{os.getpid()}@%h", "--without-mingle"]
            command += ["--without-gossip", "-c", str(concurrency)]
            started.append(stack.enter_context(process(command, env, log)))
            wait_for(partial(_says_ready, log), 60, f"a worker (see {log})")
        yield started


def _says_ready(log: Path) -> bool:
    return b" ready." in log.read_bytes()


def rss_mb(pid: int) -> float:
    """The resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
