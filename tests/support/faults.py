"""Fault injection: private Redis and PostgreSQL servers a test may kill, a TCP gate, SQL checks."""

import contextlib
import glob
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, inspect, select

from tests.support import free_port, wait_until
from tests.support.receiver import Received
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries


class RedisServer:
    """A private redis-server without persistence: killing it loses everything, as in production."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("redis-server") is None:
            pytest.skip("redis-server is not on PATH: cannot run a private Redis")
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        """The URL of database `db` on this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> "RedisServer":
        """Start the server on its port (the same one every time) and wait until it answers."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.ping, timeout=15, message=f"redis-server on {self.port} did not start")
        return self

    def ping(self) -> bool:
        """True if the server answers."""
        client = redis.Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """SIGKILL the server: every queued and unacknowledged message is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # a stopped (paused) process dies of SIGKILL too
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP the server: it still takes connections (the kernel does) but never answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT the server: it answers everything it was sent meanwhile."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def flushall(self) -> None:
        """Empty every database, kombu's bindings included."""
        client = redis.Redis(port=self.port)
        try:
            client.flushall()
        finally:
            client.close()


class PostgresCluster:
    """A private PostgreSQL cluster that a test may stop and restart under the service."""

    def __init__(self) -> None:
        # Debian's layout first, newest version last; else whatever pg_ctl is on PATH.
        debian = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
        found = sorted(debian, key=lambda path: float(path.split("/")[4])) or [
            shutil.which("pg_ctl") or ""
        ]
        if not found[-1]:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as postgres")
        self.bin = Path(found[-1]).parent
        # Not under pytest's tmp_path: the postgres user cannot enter root's 0700 directories.
        self.directory = Path(tempfile.mkdtemp(prefix="webhooks-postgres-"))
        self.data = self.directory / "data"
        self.port = free_port()

    def url(self, database: str = "postgres") -> str:
        """A URL for `database` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> "PostgresCluster":
        """Create the cluster: trust auth, no fsync (it need not survive a machine crash)."""
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")
        return self

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
            # fsync off: a crash of the server still keeps every commit (the kernel has
            # it), only a crash of the machine would not. synchronous_commit stays on.
            " -c fsync=off"
            " -c max_connections=300"
        )
        # -l: the server writes to a file, not to our pipes (which would never reach EOF).
        log = str(self.directory / "server.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def running(self) -> bool:
        """True if the server runs."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" ends sessions cleanly, "immediate" is a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        """Restart the server: every open connection is cut."""
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Stop the server if it runs and remove its files."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, capture_output=True, text=True, cwd=self.directory, timeout=60
        )
        if done.returncode:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)


class TcpGate:
    """A TCP forwarder on a fixed port: closed, connections are refused; open, they pass through.

    `cut` also drops the connections already through (as a crash of the target would), and
    `freeze` holds every byte without closing anything (as a target that hangs would).
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._flowing = threading.Event()
        self._flowing.set()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` through the gate."""
        return f"http://127.0.0.1:{self.port}{path}"

    def open(self) -> None:
        """Listen on the gate's port and forward every connection to the target."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening: new connections are refused at once."""
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None

    def cut(self) -> None:
        """Close, and drop every connection already through: both ends see it reset."""
        self.close()
        with self._lock:
            dropped, self._sockets = self._sockets, []
        for sock in dropped:
            with contextlib.suppress(OSError):
                # Linger on, for 0 s: close() sends a reset, as a dead host's kernel would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()

    def freeze(self) -> None:
        """Hold every byte in both directions, and every new connection, until `thaw`."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Let everything held through."""
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed
            self._flowing.wait()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()  # the target is down: so is the gate, for this connection
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(
                    target=_pipe, args=(source, sink, self._flowing), daemon=True
                ).start()


def _pipe(source: socket.socket, sink: socket.socket, flowing: threading.Event) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            flowing.wait()
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


# Behind the API, in SQL: the source of truth.


def status_counts(engine: Engine) -> Counter[str]:
    """How many deliveries are in each status."""
    with engine.connect() as conn:
        rows = conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
        return Counter({row[0]: row[1] for row in rows})


def wait_for_deliveries(engine: Engine, status: str, count: int, timeout: float = 60.0) -> float:
    """Wait until `count` deliveries are in `status`; return how long it took."""
    started = time.monotonic()
    try:
        wait_until(
            lambda: status_counts(engine)[status] >= count,
            timeout=timeout,
            interval=0.2,
            message=f"wanted {count} {status} within {timeout}s",
        )
    except AssertionError as error:
        # The counts at the end of the wait, not at its start, say where it got stuck.
        raise AssertionError(f"{error}; deliveries are {dict(status_counts(engine))}") from None
    return time.monotonic() - started


def attempt_rows(engine: Engine) -> list[Any]:
    """Every attempt row, by delivery and number."""
    with engine.connect() as conn:
        return list(
            conn.execute(select(attempts).order_by(attempts.c.delivery_id, attempts.c.number)).all()
        )


def assert_attempts_consistent(
    engine: Engine, *, late_records: bool = False
) -> dict[str, list[Any]]:
    """Check the audit trail against the deliveries; return the attempts of each delivery.

    Numbers are unique per delivery (and the database enforces it), they run 1..attempt_count
    with no gap, a succeeded delivery's last attempt is a success, and its only one unless
    `late_records`: a record held up past its lease (the database down) fills the scheduler's
    placeholder with what really happened, a success the resent attempt then repeats.
    """
    unique = inspect(engine).get_unique_constraints("attempts")
    assert any(c["column_names"] == ["delivery_id", "number"] for c in unique), unique
    by_delivery: dict[str, list[Any]] = {}
    for row in attempt_rows(engine):
        by_delivery.setdefault(row.delivery_id, []).append(row)
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.id, deliveries.c.status, deliveries.c.attempt_count)
        )
        for delivery in rows:
            found = by_delivery.get(delivery.id, [])
            numbers = [a.number for a in found]
            assert numbers == list(range(1, delivery.attempt_count + 1)), (delivery, numbers)
            outcomes = [a.outcome for a in found]
            if delivery.status == "succeeded":
                assert outcomes[-1:] == ["success"], found
                assert late_records or outcomes.count("success") == 1, found
    return by_delivery


def attempts_per_event(engine: Engine) -> Counter[str]:
    """How many attempts were made for each event, as the audit trail says."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(deliveries.c.event_id, func.count(attempts.c.id))
            .join(attempts, attempts.c.delivery_id == deliveries.c.id)
            .group_by(deliveries.c.event_id)
        )
        return Counter({row[0]: row[1] for row in rows})


def ids_received(received: Iterable[Received]) -> Counter[str]:
    """How many times each webhook-id reached the receiver."""
    return Counter(r.headers["webhook-id"] for r in received)


def assert_sent_once_per_attempt(
    engine: Engine, received: Iterable[Received], event_ids: set[str]
) -> Counter[str]:
    """Check that every event reached the receiver, once per audited attempt; return the counts."""
    counts = ids_received(received)
    assert set(counts) == event_ids
    assert_attempts_consistent(engine)
    assert counts == attempts_per_event(engine)
    return counts
