"""Real Celery worker and beat processes, started with a test's environment."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping

# Variables that must come from the test, never from the developer's shell.
_OWN_PREFIXES = ("WEBHOOKS_", "DATABASE_URL", "REDIS_URL", "BROKER_URL")


def process_env(env: Mapping[str, str]) -> dict[str, str]:
    """The parent's environment without our settings, plus the test's."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    return {**base, **env}


class CeleryProcess:
    """A `celery -A worker ...` child process whose output is kept for failure reports."""

    def __init__(self, args: list[str], env: Mapping[str, str], ready_marker: str) -> None:
        self.args = args
        self.env = process_env(env)
        self.ready_marker = ready_marker
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self.process: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 30.0) -> "CeleryProcess":
        """Start the process and wait until it says it is ready."""
        self.process = subprocess.Popen(
            # --quiet: no banner, only log lines (JSON ones when the test asks for them).
            [sys.executable, "-m", "celery", "--quiet", "-A", "worker", *self.args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while self.ready_marker not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery {self.args[0]} did not start:\n{self.output()}")
            time.sleep(0.05)
        return self

    def output(self) -> str:
        """Everything the process printed so far."""
        with self._lock:
            return "".join(self._lines)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acks, like a crashed host."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """Ask for a warm shutdown; kill if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def _pump(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._lock:
                self._lines.append(line)


def start_worker(env: Mapping[str, str], concurrency: int | None = None) -> CeleryProcess:
    """Start a real worker (threads pool, as in production) and wait until it is ready."""
    args = [
        "worker",
        "--loglevel",
        "INFO",
        "-n",
        f"test-{uuid.uuid4().hex[:8]}@%h",
        "--without-mingle",
        "--without-gossip",
    ]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    return CeleryProcess(args, env, ready_marker=" ready.").start()


def start_beat(env: Mapping[str, str], schedule_file: str) -> CeleryProcess:
    """Start celery beat, the scheduler's clock."""
    args = ["beat", "--loglevel", "INFO", "--schedule", schedule_file]
    return CeleryProcess(args, env, ready_marker="beat: Starting").start()
