"""API keys made at runtime: stored as a SHA-256 hash, looked up by it, revoked by deleting it."""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from webhooks.config import ApiKey
from webhooks.ids import new_id
from webhooks.models import ApiKeyRecord, api_keys_table
from webhooks.times import utcnow

KEY_PREFIX = "whk_"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
# last_used_at is a hint, not an audit trail: written at most this often per key.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class StoredKey:
    """What a request needs of a runtime key: its id and its tenant."""

    id: str
    tenant: str | None


def key_hash(key: str) -> str:
    """The stored form of a key: SHA-256, in hex (the key is 256 random bits: no salt needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(
    session: Session, tenant: str | None, description: str, now: datetime
) -> tuple[ApiKeyRecord, str]:
    """Make a key; return its record and the key itself, which is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKeyRecord(
        id=new_id("key"),
        key_hash=key_hash(key),
        prefix=key[:SHOWN_PREFIX_LENGTH],
        tenant=tenant,
        description=description,
        created_at=now,
    )
    session.add(record)
    session.flush()
    return record, key


def find_key(conn: Connection, key: str, now: datetime) -> StoredKey | None:
    """The record of `key` if it exists (not revoked); notes when it was last used."""
    digest = key_hash(key)
    found = conn.execute(
        select(api_keys_table).where(api_keys_table.c.key_hash == digest)
    ).one_or_none()
    # The lookup was by hash; compare again in constant time all the same.
    if found is None or not hmac.compare_digest(found.key_hash, digest):
        return None
    if found.last_used_at is None or found.last_used_at < now - LAST_USED_RESOLUTION:
        _touch(conn, found.id, now)
    return StoredKey(found.id, found.tenant)


def key_by_id(conn: Connection, key_id: str) -> StoredKey | None:
    """The key with this id, if it was not revoked."""
    found = conn.execute(
        select(api_keys_table.c.id, api_keys_table.c.tenant).where(api_keys_table.c.id == key_id)
    ).one_or_none()
    return None if found is None else StoredKey(found.id, found.tenant)


def revoke_key(session: Session, key_id: str) -> bool:
    """Delete a key: the next request with it is refused. False if there was none."""
    result = session.execute(delete(ApiKeyRecord).where(ApiKeyRecord.id == key_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


def any_key_stored(engine: Engine) -> bool:
    """Whether at least one runtime key exists."""
    with engine.connect() as conn:
        return bool(conn.execute(select(exists().select_from(api_keys_table))).scalar())


def _touch(conn: Connection, key_id: str, now: datetime) -> None:
    # Conditional, so that processes racing on the same key write once between them.
    conn.execute(
        update(api_keys_table)
        .where(
            api_keys_table.c.id == key_id,
            or_(
                api_keys_table.c.last_used_at.is_(None),
                api_keys_table.c.last_used_at < now - LAST_USED_RESOLUTION,
            ),
        )
        .values(last_used_at=now)
    )
    conn.commit()


CONFIGURED_PREFIX = "env_"


@dataclass(frozen=True)
class Caller:
    """Who sends a request: the key's id and the tenant it is bound to (None: every tenant).

    A configured key's id is `env_` and a fingerprint of it; a runtime key's is its `key_` id.
    """

    key_id: str
    tenant: str | None


class KeyChecker:
    """Check keys: those of WEBHOOKS_API_KEYS in memory, the others in the database.

    Nothing is cached: a key deleted in one process is refused by every process at once.
    """

    def __init__(
        self,
        configured: tuple[ApiKey, ...],
        engine: Engine,
        pepper: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.configured = [
            (hashlib.sha256(key.key.encode()).digest(), _configured_id(key.key, pepper), key)
            for key in configured
        ]
        self.engine = engine
        self.clock = clock

    def by_key(self, key: str) -> Caller | None:
        """The caller a bearer key stands for, or None if it is no valid key."""
        offered = hashlib.sha256(key.encode()).digest()
        found = None
        for digest, key_id, configured in self.configured:
            # Compare with every key, in constant time, so timing reveals nothing.
            if hmac.compare_digest(digest, offered):
                found = Caller(key_id, configured.tenant)
        if found is not None:
            return found
        with self.engine.connect() as conn:
            stored = find_key(conn, key, self.clock())
        return None if stored is None else Caller(stored.id, stored.tenant)

    def by_id(self, key_id: str) -> Caller | None:
        """Check again a caller remembered by key id (a console session): None once revoked."""
        if key_id.startswith(CONFIGURED_PREFIX):
            for _, configured_id, configured in self.configured:
                if hmac.compare_digest(configured_id, key_id):
                    return Caller(configured_id, configured.tenant)
            return None
        with self.engine.connect() as conn:
            stored = key_by_id(conn, key_id)
        return None if stored is None else Caller(stored.id, stored.tenant)


def _configured_id(key: str, pepper: str | None) -> str:
    # An HMAC under the secret key: a session cookie that carries the id reveals nothing that
    # would help guess a short configured key.
    salt = (pepper or "webhooks-key-id").encode()
    return CONFIGURED_PREFIX + hmac.new(salt, key.encode(), "sha256").hexdigest()[:32]
