"""Migrations: the models and the schema agree; 0004 seals the secrets an older database holds."""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Boolean,
    Integer,
    String,
    column,
    create_engine,
    insert,
    make_url,
    select,
    table,
    text,
)

from tests.conftest import ENCRYPTION_KEY, TEST_POSTGRES_URL
from webhooks.config import normalize_database_url
from webhooks.errors import ConfigError
from webhooks.migrate import upgrade
from webhooks.models import Base, UTCDateTime, endpoints_table
from webhooks.security.sealing import Keyring, is_sealed
from webhooks.times import utcnow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_" + "B" * 32
URL = "https://user:hunter2@hooks.example.com/in"
# The endpoints table as revision 0001 made it.
LEGACY = table(
    "endpoints",
    *(column(name, String()) for name in ("id", "tenant", "url", "description", "secret")),
    column("previous_secret", String()),
    column("event_types", JSON()),
    column("metadata", JSON()),
    column("enabled", Boolean()),
    column("failure_count", Integer()),
    column("created_at", UTCDateTime()),
    column("updated_at", UTCDateTime()),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    admin_url = normalize_database_url(TEST_POSTGRES_URL)
    name = f"webhooks_migrate_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_models_and_migrations_agree(empty_database: str) -> None:
    """After every migration, the schema is exactly what models.py declares."""
    upgrade(empty_database)
    engine = create_engine(empty_database)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()


def test_0004_seals_an_older_databases_secrets(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows in clear are sealed by the migration, with the key it is given; none: it stops."""
    monkeypatch.delenv("WEBHOOKS_ENCRYPTION_KEYS", raising=False)
    upgrade(empty_database, "0001")
    engine = create_engine(empty_database)
    now = utcnow()
    legacy = {
        "tenant": "acme",
        "description": "",
        "event_types": [],
        "enabled": True,
        "metadata": {},
        "failure_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as conn:
        conn.execute(
            insert(LEGACY).values(
                id="ep_1", url=URL, secret=SECRET, previous_secret=OLD_SECRET, **legacy
            )
        )
        conn.execute(
            insert(LEGACY).values(
                id="ep_2", url="https://hooks.example.com/b", secret=SECRET, **legacy
            )
        )

    with pytest.raises(ConfigError, match=r"endpoints hold secrets in clear.*ENCRYPTION_KEYS"):
        upgrade(empty_database)
    keyring = Keyring([ENCRYPTION_KEY])
    upgrade(empty_database, keyring=keyring)

    with engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(select(endpoints_table))}
    engine.dispose()
    first, second = rows["ep_1"], rows["ep_2"]
    assert first.url == "https://user:***@hooks.example.com/in"
    assert keyring.unseal(first.sealed_url) == URL
    assert keyring.unseal(first.secret) == SECRET
    assert keyring.unseal(first.previous_secret) == OLD_SECRET
    assert (second.url, second.sealed_url) == ("https://hooks.example.com/b", None)
    assert is_sealed(second.secret) and first.signature_scheme == "hmac-sha256"
