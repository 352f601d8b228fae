"""Secrets at rest: raw rows hold no secret and no URL password; keys rotate; a wrong key stops."""

import dataclasses
import logging

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from api import create_app
from tests.conftest import ENCRYPTION_KEY
from tests.support.api import (
    TABLES,
    create_endpoint,
    json_body,
    keyed_client,
    other_app,
    post_event,
)
from tests.support.processes import start_worker
from tests.support.resolver import resolve
from webhooks.config import Settings
from webhooks.errors import ConfigError
from webhooks.security.sealed_rows import SEALED_COLUMNS
from webhooks.security.sealing import key_id, sealed_key_id
from webhooks.tools.cli import main

PASSWORD = "s3cr3t-pa55w0rd"
URL = f"https://hookuser:{PASSWORD}@hooks.example.com/in?x=1"
SHOWN = "https://hookuser:***@hooks.example.com/in?x=1"
NEW_KEY = Fernet.generate_key().decode()
WRONG_KEY = rf"sealed with key {key_id(ENCRYPTION_KEY)}, which WEBHOOKS_ENCRYPTION_KEYS"


def _raw_rows(engine: Engine) -> str:
    """Every row of every table, as text: what a dump, a backup or a replica holds."""
    with engine.connect() as conn:
        return "\n".join(
            repr(tuple(row)) for table in TABLES.values() for row in conn.execute(select(table))
        )


def _key_ids(engine: Engine) -> set[str | None]:
    """The ids of the keys that sealed the values of every sealed column."""
    with engine.connect() as conn:
        return {
            sealed_key_id(value)
            for column in SEALED_COLUMNS
            for value in conn.execute(select(column).where(column.is_not(None))).scalars()
        }


def test_raw_rows_hold_no_secret_and_no_url_password(
    client: FlaskClient, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Secrets, signing keys and URL passwords are sealed; every response shows `***`."""
    caplog.set_level(logging.DEBUG)
    hmac_endpoint = create_endpoint(client, URL)
    ed_endpoint = create_endpoint(client, URL, signature_scheme="ed25519")
    assert hmac_endpoint["url"] == ed_endpoint["url"] == SHOWN
    rotated = json_body(client.post(f"/v1/endpoints/{hmac_endpoint['id']}/secret/rotate"))
    post_event(client)
    answers = [
        client.get("/v1/endpoints").get_data(as_text=True),
        client.get(f"/v1/endpoints/{ed_endpoint['id']}").get_data(as_text=True),
        client.patch(f"/v1/endpoints/{ed_endpoint['id']}", json={"url": URL}).get_data(
            as_text=True
        ),
    ]
    for answer in answers:
        assert PASSWORD not in answer and SHOWN in answer

    raw = _raw_rows(engine)
    for secret in (hmac_endpoint["secret"], rotated["secret"]):
        assert secret[6:] not in raw
    assert PASSWORD not in raw and "whsec_" not in raw and "whsk_" not in raw
    assert SHOWN in raw  # the URL as shown is stored in clear, for lists
    assert _key_ids(engine) == {key_id(ENCRYPTION_KEY)}
    assert PASSWORD not in caplog.text


def test_reencrypt_moves_every_value_to_the_newest_key(
    client: FlaskClient, engine: Engine, settings: Settings
) -> None:
    """`webhooks reencrypt` with a new key first: afterwards the old key can go."""
    endpoints = [create_endpoint(client, URL), create_endpoint(client, signature_scheme="ed25519")]
    client.post(f"/v1/endpoints/{endpoints[0]['id']}/secret/rotate")
    before = [client.get(f"/v1/endpoints/{e['id']}/secret").get_json() for e in endpoints]
    env = {
        "DATABASE_URL": settings.database_url,
        "WEBHOOKS_ENCRYPTION_KEYS": f"{NEW_KEY},{ENCRYPTION_KEY}",
    }

    result = CliRunner().invoke(main, ["reencrypt", "--batch", "1"], env=env)

    assert result.exit_code == 0, result.output
    assert "4 values sealed again" in result.output  # 2 secrets, 1 previous, 1 URL
    assert _key_ids(engine) == {key_id(NEW_KEY)}
    assert CliRunner().invoke(main, ["reencrypt"], env=env).output.startswith("0 values")
    with other_app(settings, encryption_keys=(NEW_KEY,)) as app:
        rotated = keyed_client(app, "test-key")
        after = [rotated.get(f"/v1/endpoints/{e['id']}/secret").get_json() for e in endpoints]
        assert after == before
    with pytest.raises(ConfigError, match=f"sealed with key {key_id(NEW_KEY)}"):
        create_app(settings, resolver=resolve)


def test_a_wrong_key_stops_the_api_at_start(client: FlaskClient, settings: Settings) -> None:
    """Keys that cannot open the stored secrets: a clear error at start, never a signature."""
    create_endpoint(client)
    wrong = dataclasses.replace(settings, encryption_keys=(NEW_KEY,))
    with pytest.raises(ConfigError, match=WRONG_KEY):
        create_app(wrong, resolver=resolve)
    with pytest.raises(ConfigError, match="WEBHOOKS_ENCRYPTION_KEYS is empty"):
        create_app(dataclasses.replace(settings, encryption_keys=()))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the same check as the API's
def test_a_wrong_or_missing_key_stops_the_worker_at_start(
    client: FlaskClient, env: dict[str, str]
) -> None:
    """The worker process exits at start, saying which key it lacks, before taking a task."""
    create_endpoint(client)
    with pytest.raises(RuntimeError, match=WRONG_KEY):
        start_worker({**env, "WEBHOOKS_ENCRYPTION_KEYS": NEW_KEY})
    with pytest.raises(RuntimeError, match="WEBHOOKS_ENCRYPTION_KEYS is empty"):
        start_worker({**env, "WEBHOOKS_ENCRYPTION_KEYS": ""})
