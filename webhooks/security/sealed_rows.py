"""The sealed columns: checked at start against the keys, re-encrypted under the newest."""

import logging
from collections.abc import Iterator
from itertools import groupby
from typing import Any

from sqlalchemy import Column, Engine, case, func, select, update
from sqlalchemy.exc import DBAPIError

from webhooks.errors import ConfigError
from webhooks.models import endpoints_table
from webhooks.security.sealing import SEALED_PREFIX, Keyring

log = logging.getLogger(__name__)

# Every column that holds sealed values (or NULL). A new one goes here, and `reencrypt`
# and the start-up check cover it.
SEALED_COLUMNS: tuple[Column[Any], ...] = (
    endpoints_table.c.secret,
    endpoints_table.c.previous_secret,
    endpoints_table.c.sealed_url,
    endpoints_table.c.headers,
)
REENCRYPT_BATCH = 500
_KID_START = len(SEALED_PREFIX) + 1  # substr() counts from 1
_KID_LENGTH = 8


def check_sealed_rows(engine: Engine, keyring: Keyring) -> None:
    """Refuse to start with keys that cannot open what the database holds."""
    try:
        with engine.connect() as conn:
            found = {
                kid
                for column in SEALED_COLUMNS
                for kid in conn.execute(_key_ids(column)).scalars()
                if kid is not None
            }
    except DBAPIError as exc:
        # Away, or not migrated yet: the delivery path still refuses, per value and with the
        # same message, anything it cannot unseal.
        log.warning("sealed rows not checked against the keys at start: %s", type(exc.orig))
        return
    if "" in found:
        raise ConfigError(
            "the database holds secrets in clear: run `webhooks migrate` (or `webhooks reencrypt`)"
            " with WEBHOOKS_ENCRYPTION_KEYS set"
        )
    missing = sorted(found - set(keyring.key_ids))
    if missing:
        raise ConfigError(
            f"the database holds values sealed with key {', '.join(missing)}, which "
            f"WEBHOOKS_ENCRYPTION_KEYS does not hold (it holds {', '.join(keyring.key_ids)}): "
            "the keys are wrong, or one was removed before `webhooks reencrypt` finished"
        )


def reencrypt(engine: Engine, keyring: Keyring, batch: int = REENCRYPT_BATCH) -> int:
    """Seal every value not under the newest key again under it; return how many changed.

    A batch per transaction, each row changed only if it still holds the value read: safe
    while the service runs (a secret rotated meanwhile is already sealed under the newest key).
    """
    changed = 0
    for table, columns in groupby(SEALED_COLUMNS, key=lambda column: column.table):
        columns_ = list(columns)
        primary = next(iter(table.primary_key.columns))
        for rows in _batches(engine, primary, columns_, batch):
            with engine.begin() as conn:
                for row in rows:
                    for column in columns_:
                        value = row._mapping[column.name]
                        if value is None or keyring.is_current(value):
                            continue
                        result = conn.execute(
                            update(table)
                            .where(primary == row._mapping[primary.name], column == value)
                            .values({column.name: keyring.reseal(value)})
                        )
                        changed += result.rowcount
    return changed


def _key_ids(column: Column[Any]) -> Any:
    """The distinct ids of the keys that sealed the column's values ("" for text in clear)."""
    kid = case(
        (column.like(f"{SEALED_PREFIX}%"), func.substr(column, _KID_START, _KID_LENGTH)),
        else_="",
    )
    return select(kid).where(column.is_not(None)).distinct()


def _batches(
    engine: Engine, primary: Column[Any], columns: list[Column[Any]], size: int
) -> Iterator[list[Any]]:
    last = ""
    while True:
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(primary, *columns).where(primary > last).order_by(primary).limit(size)
                )
            )
        if not rows:
            return
        yield rows
        last = rows[-1]._mapping[primary.name]
