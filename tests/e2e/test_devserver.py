"""`webhooks dev`, the README's first command: the whole service on embedded defaults."""

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from standardwebhooks.webhooks import Webhook

from tests.support import free_port, wait_until
from tests.support.processes import process_env
from tests.support.receiver import Receiver
from webhooks.tools.devserver import port_is_free

# The console script `make dev` runs, from the venv this interpreter belongs to.
WEBHOOKS = Path(sys.executable).with_name("webhooks")
# Four Pythons import Celery, Flask and SQLAlchemy at once: slow on a busy 2-core machine.
START_SECONDS = 90.0
# The command gives each group of children 15 s before it kills them; Ctrl-C must not take longer.
STOP_SECONDS = 20.0

# A process as the kernel knows it: pid and start time, so that a recycled pid is not ours.
Process = tuple[int, str]

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="follows the processes it starts in /proc"
)


@dataclass
class Dev:
    """One run of `webhooks dev`: its process, its output, and every process seen under it."""

    directory: Path
    log: Path
    process: subprocess.Popen[bytes]
    seen: set[Process] = field(default_factory=set)

    def output(self) -> str:
        """Everything the command and its children printed so far."""
        return self.log.read_text(errors="replace")

    def wait_for_banner(self) -> str:
        """Wait until the command says it is running; return what it printed."""

        def check() -> str:
            if self.process.poll() is not None:
                raise AssertionError(f"webhooks dev exited with {self.process.returncode}")
            output = self.output()
            # The banner's last line: the whole banner is out.
            return output if re.search(r"^  receivers ", output, re.M) else ""

        return wait_until(check, timeout=START_SECONDS, interval=0.2, message="no banner")

    def look(self) -> None:
        """Remember what runs under the command now, to check later that it is all gone."""
        self.seen |= _descendants(self.process.pid) | _running_in(self.directory)

    def ctrl_c(self) -> int:
        """Press Ctrl-C and return the exit status: a terminal signals the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"webhooks dev still runs {STOP_SECONDS}s after Ctrl-C") from None

    def kill(self) -> None:
        """Kill the command and everything it started, whatever state the test left them in."""
        if self.process.poll() is None:
            self.look()
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

        def none_left() -> bool:
            # Each child leads a session of its own, out of the command's group's reach:
            # kill them one by one, and whatever they forked meanwhile.
            left = _alive(self.seen) | _running_in(self.directory)
            for pid, _started in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.seen |= left
            return not left

        wait_until(none_left, timeout=10, interval=0.2, message="processes survive SIGKILL")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port where no Redis answers: bound but never listening, so nothing else takes it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def start_dev(tmp_path: Path, closed_port: int) -> Iterator[Callable[..., Dev]]:
    """Run `webhooks dev ARGS` as a new user would, in an empty directory; kill it all after."""
    runs: list[Dev] = []

    def start(*args: str) -> Dev:
        directory = tmp_path / f"project{len(runs)}"
        directory.mkdir()
        log = tmp_path / f"dev{len(runs)}.log"
        # No WEBHOOKS_* and no DATABASE_URL: the defaults; and no Redis at REDIS_URL.
        env = process_env(
            {"REDIS_URL": f"redis://127.0.0.1:{closed_port}/0", "PYTHONUNBUFFERED": "1"}
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(WEBHOOKS), "dev", *args],
                cwd=directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # A process group of its own, like a shell job: Ctrl-C goes to it, not to pytest.
                start_new_session=True,
            )
        runs.append(Dev(directory, log, process))
        return runs[-1]

    yield start
    for dev in runs:
        dev.kill()
        # Shown only when the test failed.
        print(f"--- output of `webhooks dev` in {dev.directory} ---\n{dev.output()[-20000:]}")


def test_dev_runs_the_whole_service_and_ctrl_c_stops_it(
    start_dev: Callable[..., Dev], closed_port: int, receiver: Receiver
) -> None:
    """`webhooks dev` starts a Redis, serves, delivers signed webhooks; Ctrl-C stops it all."""
    port, flower_port = free_port(), free_port()
    dev = start_dev("--port", str(port), "--flower-port", str(flower_port))
    banner = dev.wait_for_banner()
    # Nothing before the banner: start-up lines go to the log file it names.
    assert banner.lstrip().startswith("webhooks is running"), banner[:2000]
    log_file = dev.directory / _banner_value(banner, "logs")
    assert " ready." in log_file.read_text() and "beat: Starting" in log_file.read_text()

    # The banner says where to look, and the key it shows is the one the README's curl lines read.
    api = _banner_value(banner, "API")
    assert api == f"http://127.0.0.1:{port}"
    assert _banner_value(banner, "Flower") == f"http://127.0.0.1:{flower_port}"
    key = _banner_value(banner, "API key")
    assert key == (dev.directory / ".webhooks-dev" / "api-key").read_text().strip()
    assert (dev.directory / "webhooks.db").is_file()
    # Nothing answered at REDIS_URL, so it started a Redis of its own, and that one answers.
    redis_url = _banner_value(banner, "redis")
    started = re.fullmatch(r"redis://127\.0\.0\.1:(\d+)/0", redis_url)
    assert started, redis_url
    redis_port = int(started[1])
    assert redis_port != closed_port
    assert redis.Redis.from_url(redis_url, socket_timeout=5).ping()

    http = requests.Session()
    http.trust_env = False  # loopback only: no proxy from the environment
    ready = http.get(f"{api}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert ready.json()["database"] == ready.json()["broker"] == "ok"
    spec = http.get(f"{api}/openapi.json", timeout=10)
    assert spec.status_code == 200
    assert "/v1/events" in spec.json()["paths"]
    # The console is linked, and signs its sessions with a key derived from the kept one.
    console = _banner_value(banner, "console")
    assert console == f"{api}/console"
    assert http.get(f"{console}/sign-in", timeout=10).status_code == 200
    assert (dev.directory / ".webhooks-dev" / "encryption-key").is_file()

    # The README's two minutes with curl, against a real receiver: the worker and Redis run.
    http.headers["Authorization"] = f"Bearer {key}"
    subscription = {"url": receiver.url("/hook"), "event_types": ["invoice.*"]}
    endpoint = _post(http, f"{api}/v1/endpoints", subscription, 201)
    invoice = {"type": "invoice.paid", "data": {"invoice": "in_1"}}
    event = _post(http, f"{api}/v1/events", invoice, 202)
    (delivery,) = event["deliveries"]
    (request,) = receiver.wait_for(1, "/hook", timeout=60)
    payload = Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "invoice.paid"
    assert payload["data"] == {"invoice": "in_1"}
    assert request.headers["webhook-id"] == event["id"]

    def attempts() -> list[dict[str, Any]]:
        response = http.get(f"{api}/v1/deliveries/{delivery['id']}/attempts", timeout=10)
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    (attempt,) = wait_until(attempts, timeout=30, message="no attempt recorded")
    assert (attempt["outcome"], attempt["status_code"], attempt["error"]) == ("success", 200, None)
    # After the banner, what happens is shown as it happens: here the attempt's line.
    wait_until(
        lambda: delivery["id"] in dev.output().split("receivers", 1)[1],
        timeout=30,
        message="the attempt's log line was not shown",
    )

    flower = _banner_value(banner, "Flower")
    wait_until(lambda: _status(flower) == 200, timeout=60, message="Flower does not answer")
    # Its JSON API too, for the dev user (no password on loopback).
    assert _status(f"{flower}/api/workers") == 200

    # Everything it started, seen now, must be gone after Ctrl-C.
    dev.look()
    commands = " ".join(_command(pid) for pid, _started in dev.seen)
    for service in ("redis-server", "gunicorn", "worker worker", "worker beat", "worker flower"):
        assert service in commands, f"{service} not running under webhooks dev"

    assert dev.ctrl_c() == 0, dev.output()[-5000:]
    assert dev.output().rstrip().endswith("stopped")
    assert not _alive(dev.seen), f"left running: {_alive(dev.seen)}"
    assert not _running_in(dev.directory)
    for name, number in (("API", port), ("Flower", flower_port), ("Redis", redis_port)):
        assert port_is_free(number), f"{name} port {number} still taken after Ctrl-C"


def test_dev_stopped_while_starting_leaves_nothing_running(start_dev: Callable[..., Dev]) -> None:
    """SIGTERM while `webhooks dev` starts (a closed IDE, `kill`) stops what it had started."""
    port, flower_port = free_port(), free_port()
    dev = start_dev("--port", str(port), "--flower-port", str(flower_port))

    def redis_started() -> bool:
        dev.look()
        return any("redis-server" in _command(pid) for pid, _started in dev.seen)

    # Its own Redis comes first; the API needs seconds more to answer: this is mid-start.
    wait_until(redis_started, timeout=START_SECONDS, interval=0.02, message="no redis-server")
    os.kill(dev.process.pid, signal.SIGTERM)
    try:
        dev.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError("webhooks dev ignores SIGTERM while it starts") from None
    assert "webhooks is running" not in dev.output(), "the test was too slow: it had started"
    assert not _alive(dev.seen), f"left running: {_alive(dev.seen)}"
    assert not _running_in(dev.directory)
    assert dev.output().rstrip().endswith("stopped")
    assert port_is_free(port)


def test_dev_names_a_port_in_use(start_dev: Callable[..., Dev]) -> None:
    """With the API port taken, `webhooks dev` says which and how to choose another, and exits."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dev = start_dev("--port", str(port), "--flower-port", str(free_port()))
        status = dev.process.wait(timeout=60)
    output = dev.output()
    assert status == 1, output
    assert f"port {port} (API) is in use" in output
    assert "--port N" in output
    assert "webhooks is running" not in output
    assert not _running_in(dev.directory)


def _post(http: requests.Session, url: str, body: dict[str, Any], status: int) -> dict[str, Any]:
    """POST a JSON body; check the status and return the answer."""
    response = http.post(url, json=body, timeout=10)
    assert response.status_code == status, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _banner_value(banner: str, name: str) -> str:
    """The value on the banner line `name` ("API" is not "API key": two spaces follow a name)."""
    match = re.search(rf"^  {name}\s{{2,}}(\S+)", banner, re.M)
    assert match, f"no {name} in the banner:\n{banner}"
    return match[1]


def _status(url: str) -> int | None:
    """The status GET `url` answers with, or None if nothing answers yet."""
    with requests.Session() as http:
        http.trust_env = False
        try:
            return http.get(url, timeout=5).status_code
        except requests.RequestException:
            return None


def _start_time(pid: int) -> str | None:
    """When a live process started (clock ticks since boot), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after "(comm)": state is the first, start time the twentieth.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


def _command(pid: int) -> str:
    """The command line of a process, or "" if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def _descendants(pid: int) -> set[Process]:
    """Every live process below `pid`, from the kernel's lists of children of each thread."""
    found: set[Process] = set()
    parents = [pid]
    while parents:
        for children in Path(f"/proc/{parents.pop()}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                for child in map(int, children.read_text().split()):
                    started = _start_time(child)
                    if started is not None and (child, started) not in found:
                        found.add((child, started))
                        parents.append(child)
    return found


def _running_in(directory: Path) -> set[Process]:
    """Every live process working in `directory`: whatever the command started, even orphans."""
    found: set[Process] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")) == directory.resolve():
                started = _start_time(int(entry.name))
                if started is not None:
                    found.add((int(entry.name), started))
    return found


def _alive(processes: set[Process]) -> set[Process]:
    """Those of `processes` still running (the same pid with the same start time)."""
    return {(pid, started) for pid, started in processes if _start_time(pid) == started}
