"""`webhooks flower`: Flower behind basic auth, /metrics included, or on loopback only."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support import free_port, wait_until
from tests.support.processes import process_env

WEBHOOKS = str(Path(sys.executable).with_name("webhooks"))
PASSWORD = ("ops", "s3cret-pw")
# Flower reads nothing from the database: one backend is enough.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def flower(env: dict[str, str]) -> Iterator[str]:
    """Run `webhooks flower` with a password on a free loopback port; yield its base URL."""
    port = free_port()
    child = subprocess.Popen(
        [WEBHOOKS, "flower", "--port", str(port), "--address", "127.0.0.1"],
        env=process_env({**env, "FLOWER_BASIC_AUTH": ":".join(PASSWORD)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _answers(f"{url}/healthcheck"), timeout=30, message="Flower never came up"
        )
        yield url
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=10)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_every_flower_page_asks_for_the_password_including_metrics(flower: str) -> None:
    """With FLOWER_BASIC_AUTH set, the dashboard and /metrics need it; the probe stays open."""
    for path in ("/", "/metrics", "/api/workers"):
        assert requests.get(flower + path, timeout=10).status_code == 401, path
        wrong = requests.get(flower + path, auth=("ops", "guess"), timeout=10)
        assert wrong.status_code == 401, path
        assert requests.get(flower + path, auth=PASSWORD, timeout=10).status_code == 200, path
    assert requests.get(flower + "/healthcheck", timeout=10).status_code == 200


def test_flower_without_a_password_refuses_to_listen_beyond_loopback(
    env: dict[str, str],
) -> None:
    """No FLOWER_BASIC_AUTH and a public address: refused at start, with the reason."""
    done = subprocess.run(
        [WEBHOOKS, "flower", "--port", str(free_port()), "--address", "0.0.0.0"],
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode != 0
    assert "FLOWER_BASIC_AUTH" in done.stderr


def test_an_unreachable_broker_is_one_line_and_exit_3(env: dict[str, str]) -> None:
    """`webhooks flower` with no broker answering stops at once and says where it looked."""
    dead = f"redis://:pw@127.0.0.1:{free_port()}/0"
    done = subprocess.run(
        [WEBHOOKS, "flower", "--port", str(free_port())],
        env=process_env({**env, "REDIS_URL": dead, "BROKER_URL": ""}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert f"cannot reach the broker at redis://***@127.0.0.1:{dead.rsplit(':', 1)[1]}" in (
        done.stderr
    )
    assert "pw" not in done.stderr
