"""Commands for what keeps the service's secrets: encryption keys and API keys."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from webhooks.errors import ConfigError
from webhooks.tools.cli.failures import reaching_database
from webhooks.tools.cli.service import settings_from_env

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from webhooks.config import Settings
    from webhooks.security.sealing import Keyring


def keyring_from(settings: "Settings") -> "Keyring":
    """The keyring of WEBHOOKS_ENCRYPTION_KEYS, or a one-line error."""
    from webhooks.security.sealing import Keyring

    try:
        return Keyring.from_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None


@click.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Print a new key for WEBHOOKS_ENCRYPTION_KEYS (32 random bytes, URL-safe base64)."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@click.command()
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True)
def reencrypt(batch: int) -> None:
    """Seal every stored secret again under the newest key (safe while the service runs)."""
    from webhooks.db import make_engine
    from webhooks.security.sealed_rows import check_sealed_rows
    from webhooks.security.sealed_rows import reencrypt as reencrypt_rows
    from webhooks.security.sealing import UnsealError

    settings = settings_from_env()
    keyring = keyring_from(settings)
    engine = make_engine(settings.database_url)
    try:
        with reaching_database(settings.database_url):
            changed = reencrypt_rows(engine, keyring, batch)
            check_sealed_rows(engine, keyring)
    except (ConfigError, UnsealError) as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        engine.dispose()
    click.echo(f"{changed} values sealed again under key {keyring.primary}")
    click.echo("every value is now sealed under the newest key: older keys may be removed")


@click.group("api-keys")
def api_keys() -> None:
    """Make, list and revoke API keys (the first one, too: no running API needed)."""


@api_keys.command("create")
@click.option("--tenant", default=None, help="Bind the key to this tenant (default: every tenant).")
@click.option("--description", default="", help="A note to recognise the key by.")
def api_keys_create(tenant: str | None, description: str) -> None:
    """Make a key and print it: it is shown once, only its hash is stored."""
    from webhooks.apikeys import create_key
    from webhooks.events.matching import is_event_type
    from webhooks.times import utcnow

    # A tenant name has the shape of an event type (the API's `Name`).
    if tenant is not None and not is_event_type(tenant):
        raise click.BadParameter("1 to 128 of A-Z a-z 0-9 _ . -", param_hint="--tenant")
    with _sessions() as sessions, sessions.begin() as session:
        record, key = create_key(session, tenant, description, utcnow())
    click.echo(f"{record.id}  tenant={record.tenant or '*'}", err=True)
    click.echo(key)


@api_keys.command("list")
def api_keys_list() -> None:
    """List the keys made at runtime (never the keys themselves)."""
    from sqlalchemy import select

    from webhooks.models import ApiKeyRecord

    with _sessions() as sessions, sessions() as session:
        for record in session.scalars(select(ApiKeyRecord).order_by(ApiKeyRecord.id)):
            used = record.last_used_at.isoformat() if record.last_used_at else "never"
            click.echo(
                f"{record.id}  {record.prefix}...  tenant={record.tenant or '*'}  "
                f"last used {used}  {record.description}"
            )


@api_keys.command("revoke")
@click.argument("key_id")
def api_keys_revoke(key_id: str) -> None:
    """Revoke a key by its id: every API process refuses it from the next request on."""
    from webhooks.apikeys import revoke_key

    with _sessions() as sessions, sessions.begin() as session:
        if not revoke_key(session, key_id):
            raise click.ClickException(f"no API key {key_id}")
    click.echo(f"{key_id} revoked")


@contextmanager
def _sessions() -> "Iterator[sessionmaker[Session]]":
    from webhooks.db import make_engine, make_sessions

    url = settings_from_env().database_url
    engine = make_engine(url)
    try:
        with reaching_database(url):
            yield make_sessions(engine)
    finally:
        engine.dispose()
