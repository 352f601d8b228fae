"""API keys made at runtime: create, use, list, revoke (refused at once everywhere)."""

import dataclasses
import re
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from api import create_app
from api.services import services
from tests.support.api import TENANT_KEY, json_body, keyed_client, other_app, problem
from tests.support.resolver import resolve
from webhooks.config import Settings
from webhooks.errors import ConfigError
from webhooks.models import api_keys_table
from webhooks.tools.cli import main

KEY_FIELDS = {"id", "prefix", "tenant", "description", "created_at", "last_used_at"}


def new_key(client: FlaskClient, tenant: str | None = None, description: str = "") -> Any:
    """Make a runtime key through the API; return the answer, key included."""
    response = client.post("/v1/api-keys", json={"tenant": tenant, "description": description})
    return json_body(response, 201)


def test_create_use_list_revoke(app: Flask, client: FlaskClient, engine: Engine) -> None:
    """The key is shown once, works at once, is listed without itself, and dies with DELETE."""
    created = new_key(client, "acme", "billing service")
    assert set(created) == KEY_FIELDS - {"last_used_at"} | {"key"}
    assert re.fullmatch(r"key_[0-9a-z]{26}", created["id"])
    assert created["key"].startswith("whk_") and len(created["key"]) >= 40
    assert created["key"].startswith(created["prefix"]) and len(created["prefix"]) == 10
    assert (created["tenant"], created["description"]) == ("acme", "billing service")

    acme = keyed_client(app, created["key"])
    endpoint = json_body(acme.post("/v1/endpoints", json={"url": "https://example.com/h"}), 201)
    assert endpoint["tenant"] == "acme"

    listed = json_body(client.get("/v1/api-keys"))["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert set(listed[0]) == KEY_FIELDS and listed[0]["last_used_at"] is not None
    with engine.connect() as conn:
        stored = conn.execute(select(api_keys_table)).one()
    assert created["key"] not in repr(tuple(stored))  # only the hash is kept
    assert created["key"] not in client.get("/v1/api-keys").get_data(as_text=True)

    assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 204
    problem(acme.get("/v1/endpoints"), 401)
    problem(client.delete(f"/v1/api-keys/{created['id']}"), 404)
    assert json_body(client.get("/v1/api-keys"))["data"] == []


def test_revocation_reaches_every_api_process_at_once(
    app: Flask, client: FlaskClient, settings: Settings
) -> None:
    """Two API processes share nothing but the database: one revokes, the other refuses next."""
    created = new_key(client)
    with other_app(settings) as second:
        there = keyed_client(second, created["key"])
        assert there.get("/v1/events").status_code == 200
        assert client.delete(f"/v1/api-keys/{created['id']}").status_code == 204
        problem(there.get("/v1/events"), 401)
        # The console's check of a remembered key id agrees.
        with second.app_context():
            assert services().keys.by_id(created["id"]) is None


def test_last_used_is_written_at_most_once_a_minute(
    app: Flask, client: FlaskClient, engine: Engine
) -> None:
    """Using a key notes when, without a write per request."""
    created = new_key(client)
    user = keyed_client(app, created["key"])
    user.get("/v1/events")
    with engine.connect() as conn:
        first = conn.execute(select(api_keys_table.c.last_used_at)).scalar_one()
    user.get("/v1/events")
    with engine.connect() as conn:
        assert conn.execute(select(api_keys_table.c.last_used_at)).scalar_one() == first
    with app.app_context():
        caller = services().keys.by_id(created["id"])
    assert caller is not None and caller.tenant is None


def test_only_unbound_keys_manage_keys(app: Flask, client: FlaskClient) -> None:
    """A tenant-bound key, configured or made at runtime, gets 403 on every key route."""
    runtime_bound = new_key(client, "acme")["key"]
    some_id = new_key(client)["id"]
    for key in (TENANT_KEY, runtime_bound):
        bound = keyed_client(app, key)
        problem(bound.post("/v1/api-keys", json={"tenant": None}), 403)
        problem(bound.get("/v1/api-keys"), 403)
        problem(bound.delete(f"/v1/api-keys/{some_id}"), 403)
    assert len(json_body(client.get("/v1/api-keys"))["data"]) == 2


def test_api_starts_on_stored_keys_alone_never_on_none(settings: Settings) -> None:
    """Without WEBHOOKS_API_KEYS the API needs a key in the database; with neither it stops."""
    keyless = dataclasses.replace(settings, api_keys=())
    with pytest.raises(ConfigError, match=r"no API key.*webhooks api-keys create"):
        create_app(keyless, resolver=resolve)
    env = {"DATABASE_URL": settings.database_url}
    made = CliRunner().invoke(main, ["api-keys", "create", "--description", "first"], env=env)
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    with other_app(keyless) as app:
        assert keyed_client(app, key).get("/v1/endpoints").status_code == 200
        problem(keyed_client(app, "test-key").get("/v1/endpoints"), 401)
    listed = CliRunner().invoke(main, ["api-keys", "list"], env=env)
    assert "first" in listed.output and key not in listed.output
    (key_id,) = re.findall(r"key_[0-9a-z]{26}", listed.output)
    assert CliRunner().invoke(main, ["api-keys", "revoke", key_id], env=env).exit_code == 0
    bad = CliRunner().invoke(main, ["api-keys", "create", "--tenant", "a b"], env=env)
    assert bad.exit_code != 0 and "--tenant" in bad.output


def test_new_key_fields_are_checked(client: FlaskClient) -> None:
    """A bad tenant name or an unknown field: 422 on that field."""
    for body, loc in [
        ({"tenant": "two words"}, ["tenant"]),
        ({"description": "x" * 1025}, ["description"]),
        ({"scope": "all"}, ["scope"]),
    ]:
        refused = problem(client.post("/v1/api-keys", json=body), 422)
        assert [e["loc"] for e in refused["errors"]] == [loc]
