"""The `webhooks` command: run the service, and operate it through its API.

Exit codes (the same for every command, so scripts can tell failures apart):

\b
  0  done
  1  the API refused the request (not found, conflict, invalid input)
  2  the command line is wrong (unknown option, missing argument)
  3  the API, the database or the broker could not be reached (or answered 503)
  4  the API key is missing or not valid
  5  the API failed (500)
"""

import click

from webhooks.tools.cli.admin import deliveries, endpoints, events, replay
from webhooks.tools.cli.secrets import api_keys, generate_encryption_key, reencrypt
from webhooks.tools.cli.service import dev, flower, migrate, purge, receive


@click.group(help=__doc__)
@click.version_option(package_name="webhooks")
def main() -> None:
    """Webhook delivery: signed, retried, audited, replayable."""


for command in (
    migrate,
    dev,
    flower,
    receive,
    purge,
    generate_encryption_key,
    reencrypt,
    api_keys,
    endpoints,
    events,
    deliveries,
    replay,
):
    main.add_command(command)


if __name__ == "__main__":
    main()
