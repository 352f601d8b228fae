"""What a command that fails says: one line and an exit code that means something."""

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.exc import DBAPIError

from webhooks.config import hide_credentials
from webhooks.db import is_unavailable

REFUSED, USAGE, UNREACHABLE, UNAUTHORIZED, SERVER_ERROR = 1, 2, 3, 4, 5


class Failure(click.ClickException):
    """A one-line error with its exit code."""

    def __init__(self, message: str, exit_code: int = REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click reads the instance's


@contextmanager
def reaching_database(url: str) -> Iterator[None]:
    """Turn a database that does not answer into one line: where, and the driver's words."""
    try:
        yield
    except DBAPIError as exc:
        if not is_unavailable(exc):
            raise
        lines = str(exc.orig).strip().splitlines() if exc.orig is not None else []
        reason = lines[0] if lines else type(exc).__name__
        where = hide_credentials(url)
        raise Failure(f"cannot reach the database at {where}: {reason}", UNREACHABLE) from None


def check_broker(url: str) -> None:
    """Fail with one line, where and the client's words, unless the broker at `url` answers."""
    from webhooks.delivery.brokerping import ping_broker

    try:
        ping_broker(url)
    except Exception as exc:  # refused, timed out, or refused our credentials
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        where = hide_credentials(url)
        raise Failure(f"cannot reach the broker at {where}: {reason}", UNREACHABLE) from None
