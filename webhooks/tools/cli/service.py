"""Commands that run the service or work on its database: migrate, dev, flower, receive, purge."""

import os
import sys
from datetime import UTC, datetime

import click

from webhooks.config import Settings
from webhooks.errors import ConfigError
from webhooks.tools.cli.failures import Failure, check_broker, reaching_database


def settings_from_env() -> Settings:
    """The settings, or a one-line error naming the bad variable."""
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None


@click.command()
def migrate() -> None:
    """Bring the database at DATABASE_URL to the latest schema (safe to run twice)."""
    from webhooks.migrate import upgrade
    from webhooks.security.sealing import Keyring

    settings = settings_from_env()
    try:
        keyring = Keyring.from_settings(settings) if settings.encryption_keys else None
        with reaching_database(settings.database_url):
            upgrade(settings.database_url, keyring=keyring)
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None
    click.echo("database schema is up to date")


@click.command()
@click.option("--port", type=int, default=8000, show_default=True, help="API port.")
@click.option("--flower-port", type=int, default=5555, show_default=True)
@click.option(
    "--quiet", is_flag=True, help="Print only the banner; the logs go to .webhooks-dev/dev.log."
)
def dev(port: int, flower_port: int, quiet: bool) -> None:
    """Run API, worker, scheduler and Flower locally on SQLite; Ctrl-C stops them all."""
    from webhooks.tools.devserver import run

    sys.exit(run(port=port, flower_port=flower_port, quiet=quiet))


@click.command()
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
    # Flower itself would run on, logging a warning every few seconds, and show nothing.
    check_broker(settings_from_env().broker)
    # Through worker.flower: Flower 2.2 leaves /metrics open even with basic auth.
    command = [sys.executable, "-m", "worker.flower", "-A", "worker", "flower"]
    command += [f"--port={port}", f"--address={address}"]
    if basic_auth:
        command.append(f"--basic-auth={basic_auth}")
    # exec: the platform's signals go straight to Flower.
    os.execv(command[0], command)


@click.command()
@click.option("--port", type=int, default=9000, show_default=True)
@click.option(
    "--secret", envvar="WEBHOOK_SECRET", help="Verify signatures with this whsec_ secret."
)
@click.option("--status", type=int, default=200, show_default=True, help="Status to answer with.")
def receive(port: int, secret: str | None, status: int) -> None:
    """Listen on 127.0.0.1 and print every webhook received, checking its signature."""
    from webhooks.tools.receiver import serve

    serve(port, secret, status)


class Moment(click.ParamType):  # type: ignore[type-arg]
    """A date or a time, ISO 8601 (`2026-11-01`, `2026-11-01T12:00:00Z`); UTC unless it says."""

    name = "DATE"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date or time (2026-11-01, 2026-11-01T12:00:00Z)")
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option(
    "--before",
    type=Moment(),
    help="Delete what finished before this. Default: WEBHOOKS_RETENTION_DAYS ago.",
)
@click.option("--dry-run", is_flag=True, help="Count what would go; delete nothing.")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
def purge(before: datetime | None, dry_run: bool, batch_size: int) -> None:
    """Delete finished deliveries, their attempts and events left with none, older than DATE."""
    from webhooks.db import make_engine
    from webhooks.retention import count, cutoff
    from webhooks.retention import purge as purge_rows
    from webhooks.times import utcnow

    settings = settings_from_env()
    if before is None:
        before = cutoff(settings.retention_days, utcnow())
        if before is None:
            raise Failure("WEBHOOKS_RETENTION_DAYS is 0 (keep forever): give --before DATE")
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        with reaching_database(settings.database_url):
            if dry_run:
                found, verb = count(engine, before), "would delete"
            else:
                found, verb = purge_rows(engine, before, batch_size=batch_size), "deleted"
    finally:
        engine.dispose()
    click.echo(
        f"{verb} {found.deliveries} deliveries, {found.attempts} attempts and "
        f"{found.events} events finished before {before.isoformat()}"
    )
