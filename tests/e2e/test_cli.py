"""The admin CLI against a running API: its tables, its JSON, its exit codes."""

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine

from tests.conftest import API_KEY
from tests.support import free_port
from tests.support.api import create_endpoint, get_delivery, post_event, set_row
from tests.support.processes import process_env
from tests.support.server import serving
from webhooks.times import utcnow
from webhooks.tools.cli import main

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
WEBHOOKS = str(Path(sys.executable).with_name("webhooks"))


@pytest.fixture
def api_url(app: Flask) -> Iterator[str]:
    """The API over real HTTP."""
    with serving(app) as url:
        yield url


@pytest.fixture
def cli(api_url: str) -> Any:
    """Run `webhooks ARGS` against the API with the test key."""
    runner = CliRunner()

    def run(*args: str, key: str | None = API_KEY, url: str = api_url) -> Result:
        env = {"WEBHOOKS_URL": url, "WEBHOOKS_API_KEY": key}
        return runner.invoke(main, list(args), env=env)

    return run


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def test_endpoints_and_events_from_the_command_line(cli: Any) -> None:
    """Create, list, disable, enable, send: tables for people, JSON for scripts."""
    created = json.loads(
        ok(
            cli(
                "endpoints", "create", "https://example.com/hook", "--type", "invoice.*",
                "--header", "X-Api-Key: k1", "--rate-limit", "5", "--max-in-flight", "3", "--json",
            )
        )
    )  # fmt: skip
    assert created["secret"].startswith("whsec_")
    assert (created["rate_limit"], created["max_in_flight"]) == (5, 3)
    assert created["headers"] == {"X-Api-Key": "***"}
    endpoint_id = created["id"]
    table = ok(cli("endpoints", "create", "https://example.com/other"))
    assert "secret" in table and "whsec_" in table

    listing = ok(cli("endpoints", "list"))
    header, *rows = listing.splitlines()
    assert header.split() == ["ID", "URL", "TENANT", "ENABLED", "REASON", "EVENT", "TYPES"]
    assert len(rows) == 2
    assert any(endpoint_id in row and "invoice.*" in row and "yes" in row for row in rows)
    assert len(json.loads(ok(cli("endpoints", "list", "--json")))["data"]) == 2

    disabled = ok(cli("endpoints", "disable", endpoint_id))
    assert "manual" in disabled
    assert json.loads(ok(cli("endpoints", "list", "--disabled", "--json")))["data"][0]["id"] == (
        endpoint_id
    )
    assert '"enabled": true' in ok(cli("endpoints", "enable", endpoint_id, "--json"))

    sent = ok(cli("events", "send", "invoice.paid", "--data", '{"invoice": "in_1"}'))
    assert "invoice.paid  2 deliveries" in sent  # both endpoints: the second takes every type
    accepted = json.loads(ok(cli("events", "send", "invoice.paid", "--json")))
    assert accepted["type"] == "invoice.paid" and len(accepted["deliveries"]) == 2


def test_failed_deliveries_are_listed_and_replayed(
    cli: Any, client: FlaskClient, engine: Engine
) -> None:
    """`deliveries list --status failed --endpoint`, then `replay --since` sends them again."""
    endpoint = create_endpoint(client, "https://example.com/hook")
    other = create_endpoint(client, "https://example.com/other", event_types=["nothing"])
    recent = [post_event(client)["deliveries"][0]["id"] for _ in range(3)]
    since = utcnow() - timedelta(hours=1)
    for delivery_id in recent:
        set_row(engine, "deliveries", delivery_id, status="failed", updated_at=utcnow())
    older = post_event(client)["deliveries"][0]["id"]
    set_row(engine, "deliveries", older, status="failed", updated_at=since - timedelta(hours=1))

    listing = ok(cli("deliveries", "list", "--status", "failed", "--endpoint", endpoint["id"]))
    assert all(delivery_id in listing for delivery_id in [*recent, older])
    assert "failed" in listing.splitlines()[1]
    assert ok(cli("deliveries", "list", "--status", "failed", "--endpoint", other["id"])) == (
        "(none)\n"
    )

    replayed = cli("replay", "--endpoint", endpoint["id"], "--since", since.isoformat())
    assert f"replayed 3 failed deliveries of {endpoint['id']}" in ok(replayed)
    assert [get_delivery(client, d)["status"] for d in recent] == ["pending"] * 3
    assert get_delivery(client, older)["status"] == "failed"
    again = json.loads(
        ok(cli("replay", "--endpoint", endpoint["id"], "--since", since.isoformat(), "--json"))
    )
    assert again == {"replayed": [], "refused": []}


def test_exit_codes_mean_something(cli: Any) -> None:
    """Refused 1, usage 2, unreachable 3, bad key 4; each with one line saying why."""
    missing = cli("endpoints", "disable", "ep_0123456789abcdefghjkmnpqrs")
    assert missing.exit_code == 1
    assert missing.output.strip() == "Error: 404 no endpoint ep_0123456789abcdefghjkmnpqrs"
    reserved = cli("endpoints", "create", "https://example.com/h", "--header", "Host: x")
    assert reserved.exit_code == 1 and "headers.Host: Host is reserved" in reserved.output
    assert cli("endpoints", "frobnicate").exit_code == 2
    assert cli("events", "send", "a.b", "--data", "{nope").exit_code == 2
    wrong_key = cli("endpoints", "list", key="not-a-key")
    assert (wrong_key.exit_code, wrong_key.output.count("\n")) == (4, 1)
    assert cli("endpoints", "list", key=None).exit_code == 4
    away = cli("endpoints", "list", url=f"http://127.0.0.1:{free_port()}")
    assert away.exit_code == 3
    assert away.output.count("\n") == 1 and "cannot reach the API" in away.output


def test_database_commands_name_an_unreachable_database_in_one_line(
    env: dict[str, str],
) -> None:
    """`webhooks migrate` and `webhooks purge` with the database away: one line, exit 3."""
    dead = f"postgresql://postgres:pw@127.0.0.1:{free_port()}/nothing"
    for command in (["migrate"], ["purge", "--dry-run"]):
        done = subprocess.run(
            [WEBHOOKS, *command],
            env=process_env({**env, "DATABASE_URL": dead}),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 3, done.stderr
        assert done.stderr.count("\n") == 1, done.stderr
        assert "cannot reach the database at postgresql+psycopg://***@127.0.0.1" in done.stderr
        assert "pw" not in done.stderr
