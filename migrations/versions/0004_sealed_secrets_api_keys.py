"""Secrets sealed at rest, Ed25519 endpoints, API keys made at runtime.

Existing endpoints' secrets and URL credentials are sealed here, in the same transaction as
the schema change, with the newest key of WEBHOOKS_ENCRYPTION_KEYS (`webhooks migrate` hands
its keyring over; a plain `alembic upgrade` reads the environment). A database with endpoints
and no key configured stops here with a message, and nothing is changed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from webhooks.config import Settings
from webhooks.errors import ConfigError
from webhooks.security.credentials import has_credentials, redact
from webhooks.security.sealing import Keyring, is_sealed

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)
BATCH = 500
endpoints = sa.table(
    "endpoints",
    sa.column("id", sa.String),
    sa.column("url", sa.String),
    sa.column("sealed_url", sa.Text),
    sa.column("secret", sa.Text),
    sa.column("previous_secret", sa.Text),
)


def upgrade() -> None:
    # Asked first: SQLite runs DDL outside the transaction, so a stop must come before any.
    keyring = (
        _keyring("endpoints hold secrets in clear, which this migration seals")
        if _has_endpoints()
        else None
    )
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_url", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "signature_scheme",
                sa.String(length=16),
                nullable=False,
                server_default="hmac-sha256",
            )
        )
        batch_op.add_column(sa.Column("public_key", sa.String(length=64), nullable=True))
        batch_op.alter_column("secret", type_=sa.Text(), existing_nullable=False)
        batch_op.alter_column("previous_secret", type_=sa.Text(), existing_nullable=True)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("tenant", sa.String(length=128), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("last_used_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    if keyring is not None:
        _seal_existing_rows(keyring)


def downgrade() -> None:
    _unseal_rows()
    op.drop_table("api_keys")
    with op.batch_alter_table("endpoints", schema=None) as batch_op:
        batch_op.alter_column("previous_secret", type_=sa.String(length=128))
        batch_op.alter_column("secret", type_=sa.String(length=128))
        batch_op.drop_column("public_key")
        batch_op.drop_column("signature_scheme")
        batch_op.drop_column("sealed_url")


def _keyring(purpose: str) -> Keyring:
    """The keyring `webhooks migrate` handed over, else the one the environment configures."""
    given = context.config.attributes.get("keyring")
    if isinstance(given, Keyring):
        return given
    try:
        return Keyring.from_settings(Settings.from_env())
    except ConfigError as exc:
        raise ConfigError(f"{purpose}: {exc.detail}") from None


def _has_endpoints() -> bool:
    count = sa.select(sa.func.count()).select_from(endpoints)
    return bool(op.get_bind().execute(count).scalar_one())


def _seal_existing_rows(keyring: Keyring) -> None:
    bind = op.get_bind()
    for rows in _batches(bind):
        for row in rows:
            values: dict[str, str | None] = {}
            if not is_sealed(row.secret):
                values["secret"] = keyring.seal(row.secret)
            if row.previous_secret is not None and not is_sealed(row.previous_secret):
                values["previous_secret"] = keyring.seal(row.previous_secret)
            if has_credentials(row.url) and row.sealed_url is None:
                values["sealed_url"] = keyring.seal(row.url)
                values["url"] = redact(row.url)
            if values:
                bind.execute(endpoints.update().where(endpoints.c.id == row.id).values(values))


def _unseal_rows() -> None:
    bind = op.get_bind()
    if not _has_endpoints():
        return
    schemes = sa.text("SELECT count(*) FROM endpoints WHERE signature_scheme = 'ed25519'")
    if bind.execute(schemes).scalar_one():
        raise ConfigError("ed25519 endpoints exist: the older schema cannot sign for them")
    keyring = _keyring("the older schema keeps secrets in clear")
    for rows in _batches(bind):
        for row in rows:
            values = {"secret": keyring.unseal(row.secret)}
            if row.previous_secret is not None:
                values["previous_secret"] = keyring.unseal(row.previous_secret)
            if row.sealed_url is not None:
                values["url"] = keyring.unseal(row.sealed_url)
            bind.execute(endpoints.update().where(endpoints.c.id == row.id).values(values))


def _batches(bind: sa.Connection) -> Iterator[Sequence[Any]]:
    """Every endpoint row, a batch at a time by id (a table of any size in bounded memory)."""
    last = ""
    while True:
        rows = bind.execute(
            sa.select(endpoints).where(endpoints.c.id > last).order_by(endpoints.c.id).limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id
