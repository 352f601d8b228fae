"""The `webhooks` command: migrate, run locally, run Flower safely, receive webhooks, keys."""

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from webhooks.config import Settings
from webhooks.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from webhooks.security.sealing import Keyring


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None


@click.group()
@click.version_option(package_name="webhooks")
def main() -> None:
    """Webhook delivery: signed, retried, audited, replayable."""


def _keyring(settings: Settings) -> "Keyring":
    from webhooks.security.sealing import Keyring

    try:
        return Keyring.from_settings(settings)
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None


@main.command()
def migrate() -> None:
    """Bring the database at DATABASE_URL to the latest schema (safe to run twice)."""
    from webhooks.migrate import upgrade

    settings = _settings()
    keyring = _keyring(settings) if settings.encryption_keys else None
    try:
        upgrade(settings.database_url, keyring=keyring)
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("database schema is up to date")


@main.command("generate-encryption-key")
def generate_encryption_key() -> None:
    """Print a new key for WEBHOOKS_ENCRYPTION_KEYS (32 random bytes, URL-safe base64)."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())


@main.command()
@click.option("--batch", type=click.IntRange(min=1), default=500, show_default=True)
def reencrypt(batch: int) -> None:
    """Seal every stored secret again under the newest key (safe while the service runs)."""
    from webhooks.db import make_engine
    from webhooks.security.sealed_rows import check_sealed_rows
    from webhooks.security.sealed_rows import reencrypt as reencrypt_rows
    from webhooks.security.sealing import UnsealError

    settings = _settings()
    keyring = _keyring(settings)
    engine = make_engine(settings.database_url)
    try:
        changed = reencrypt_rows(engine, keyring, batch)
        check_sealed_rows(engine, keyring)
    except (ConfigError, UnsealError) as exc:
        raise click.ClickException(exc.detail) from None
    finally:
        engine.dispose()
    click.echo(f"{changed} values sealed again under key {keyring.primary}")
    click.echo("every value is now sealed under the newest key: older keys may be removed")


@main.group("api-keys")
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

    engine = make_engine(_settings().database_url)
    try:
        yield make_sessions(engine)
    finally:
        engine.dispose()


@main.command()
@click.option("--port", type=int, default=8000, show_default=True, help="API port.")
@click.option("--flower-port", type=int, default=5555, show_default=True)
def dev(port: int, flower_port: int) -> None:
    """Run API, worker, scheduler and Flower locally on SQLite; Ctrl-C stops them all."""
    from webhooks.tools.devserver import run

    sys.exit(run(port=port, flower_port=flower_port))


@main.command()
@click.option("--port", envvar="FLOWER_PORT", type=int, default=5555, show_default=True)
@click.option(
    "--basic-auth",
    envvar="FLOWER_BASIC_AUTH",
    default="",
    help="user:password[,user:password]; required to listen beyond loopback.",
)
@click.option("--address", default=None, help="Default: 0.0.0.0 with basic auth, else 127.0.0.1.")
def flower(port: int, basic_auth: str, address: str | None) -> None:
    """Run Flower; without basic auth it only listens on loopback."""
    if address is None:
        address = "0.0.0.0" if basic_auth else "127.0.0.1"
    if address not in ("127.0.0.1", "localhost", "::1") and not basic_auth:
        raise click.ClickException("set FLOWER_BASIC_AUTH to let Flower listen beyond loopback")
    # Through worker.flower: Flower 2.2 leaves /metrics open even with basic auth.
    command = [sys.executable, "-m", "worker.flower", "-A", "worker", "flower"]
    command += [f"--port={port}", f"--address={address}"]
    if basic_auth:
        command.append(f"--basic-auth={basic_auth}")
    # exec: the platform's signals go straight to Flower.
    os.execv(command[0], command)


@main.command()
@click.option("--port", type=int, default=9000, show_default=True)
@click.option(
    "--secret", envvar="WEBHOOK_SECRET", help="Verify signatures with this whsec_ secret."
)
@click.option("--status", type=int, default=200, show_default=True, help="Status to answer with.")
def receive(port: int, secret: str | None, status: int) -> None:
    """Listen on 127.0.0.1 and print every webhook received, checking its signature."""
    from webhooks.tools.receiver import serve

    serve(port, secret, status)


if __name__ == "__main__":
    main()
