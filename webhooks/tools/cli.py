"""The `webhooks` command: migrate, run everything locally, run Flower safely, receive webhooks."""

import os
import sys

import click

from webhooks.config import Settings
from webhooks.errors import ConfigError


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(exc.detail) from None


@click.group()
@click.version_option(package_name="webhooks")
def main() -> None:
    """Webhook delivery: signed, retried, audited, replayable."""


@main.command()
def migrate() -> None:
    """Bring the database at DATABASE_URL to the latest schema (safe to run twice)."""
    from webhooks.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    click.echo("database schema is up to date")


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
