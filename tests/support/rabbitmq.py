"""A RabbitMQ virtual host of the test session's own, on the machine's shared server.

The tests never touch another vhost: they create theirs with `rabbitmqctl`, empty it between
tests and delete it at the end. The server itself is never stopped (others use it).
"""

import os
import secrets
import shutil
import subprocess
import time
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from kombu.connection import Connection

# Where RabbitMQ answers, as guest (which may only connect from loopback).
TEST_RABBITMQ_URL = os.environ.get(
    "WEBHOOKS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/"
)


class RabbitVhost:
    """A vhost created for this test session, with the guest user allowed everything in it."""

    def __init__(self, server_url: str = TEST_RABBITMQ_URL) -> None:
        if shutil.which("rabbitmqctl") is None:
            pytest.skip("rabbitmqctl is not on PATH: cannot make a RabbitMQ vhost for the tests")
        self.server_url = server_url
        self.user = urlsplit(server_url).username or "guest"
        self.name = f"webhooks_test_{os.getpid()}_{secrets.token_hex(3)}"

    def url(self) -> str:
        """The broker URL of this vhost."""
        parts = urlsplit(self.server_url)
        return urlunsplit(parts._replace(path="/" + quote(self.name, safe="")))

    def create(self) -> "RabbitVhost":
        """Create the vhost and let the user do anything in it."""
        self._ctl("add_vhost", self.name)
        self._ctl("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")
        return self

    def delete(self) -> None:
        """Delete the vhost: its queues, exchanges and connections go with it."""
        self._ctl("delete_vhost", self.name)

    def queues(self) -> dict[str, tuple[int, int]]:
        """Each shared queue of the vhost with its ready and unacknowledged message counts.

        Exclusive queues (a worker's remote-control mailbox) belong to their connection and
        go with it: they are left out.
        """
        out = self._ctl(
            "list_queues", "-p", self.name, "name", "exclusive", "messages_ready",
            "messages_unacknowledged", "--silent", "--no-table-headers",
        )  # fmt: skip
        found = {}
        for line in out.splitlines():
            name, exclusive, ready, unacked = line.split("\t")
            if exclusive != "true":
                found[name] = (int(ready), int(unacked))
        return found

    def messages(self) -> int:
        """How many messages the vhost holds, ready or held by a consumer, in every queue."""
        return sum(ready + unacked for ready, unacked in self.queues().values())

    def purge(self) -> None:
        """Drop every ready message of every queue (a consumer's unacknowledged ones stay)."""
        self._each_queue("queue_purge")

    def empty(self, timeout: float = 15.0) -> None:
        """Purge until nothing is left: what a killed worker held comes back, then goes too.

        A previous test's worker dies with messages unacknowledged, and retries wait in the
        delay queues: both reach the queues a moment later, and would be counted as this
        test's own.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.purge()
            if self.messages() == 0 or time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def delete_queues(self) -> None:
        """Delete every queue of the vhost, with its messages: as a broker that lost its disk."""
        self._each_queue("queue_delete")

    def _each_queue(self, method: str) -> None:
        names = list(self.queues())
        with Connection(self.url(), connect_timeout=5) as connection:  # type: ignore[no-untyped-call]
            channel = connection.default_channel
            for name in names:
                getattr(channel, method)(name)

    def _ctl(self, *args: str) -> str:
        done = subprocess.run(
            ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr or done.stdout}")
        return done.stdout
