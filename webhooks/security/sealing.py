"""Secrets sealed at rest: authenticated encryption (Fernet) under keys that rotate.

A sealed value is `sealed:<key id>:<Fernet token>`. The key id names the key that sealed it,
so unsealing needs no trial and no guess, and a row sealed with a key the process does not
hold is an error that names that key, never garbage.
"""

import hashlib
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from webhooks.config import Settings
from webhooks.errors import ConfigError, WebhooksError

SEALED_PREFIX = "sealed:"
# Unsealed values kept per process: every endpoint's secrets, URLs and custom headers
# several times over, and a few hundred bytes each.
CACHE_SIZE = 16384


class UnsealError(WebhooksError):
    """A value cannot be unsealed with the configured keys."""

    title = "Cannot unseal"


def key_id(key: str) -> str:
    """A short, public name for a key: 8 hex digits of a hash of it."""
    return hashlib.sha256(b"webhooks-sealing-key:" + key.encode()).hexdigest()[:8]


def is_sealed(value: str) -> bool:
    """Whether `value` is a sealed value (rather than text in clear)."""
    return value.startswith(SEALED_PREFIX)


def sealed_key_id(value: str) -> str | None:
    """The id of the key that sealed `value`, or None for text in clear."""
    if not is_sealed(value):
        return None
    return value[len(SEALED_PREFIX) :].partition(":")[0]


class Keyring:
    """Seal with the newest key; unseal with whichever key sealed the value."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigError(
                "WEBHOOKS_ENCRYPTION_KEYS is empty: set it to a key made with "
                "`webhooks generate-encryption-key` (secrets are stored sealed with it)"
            )
        self._fernets = {key_id(key): Fernet(key.encode()) for key in keys}
        if len(self._fernets) != len(keys):
            raise ConfigError("WEBHOOKS_ENCRYPTION_KEYS lists the same key twice")
        self.primary = key_id(keys[0])
        # Unsealing is on the delivery hot path (every claim): decrypt each value once.
        self._unseal_cached = lru_cache(maxsize=CACHE_SIZE)(self._unseal)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Keyring":
        """The keyring of WEBHOOKS_ENCRYPTION_KEYS; a clear ConfigError without one."""
        return cls(settings.encryption_keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The ids of the keys held, newest first."""
        return tuple(self._fernets)

    def seal(self, text: str) -> str:
        """Encrypt and authenticate `text` under the newest key."""
        token = self._fernets[self.primary].encrypt(text.encode()).decode()
        return f"{SEALED_PREFIX}{self.primary}:{token}"

    def unseal(self, sealed: str) -> str:
        """Return the text of a sealed value; UnsealError if no key held can open it."""
        return self._unseal_cached(sealed)

    def is_current(self, value: str) -> bool:
        """Whether `value` is sealed under the newest key (nothing left to re-encrypt)."""
        return sealed_key_id(value) == self.primary

    def reseal(self, value: str) -> str:
        """Seal `value` again under the newest key; text in clear is sealed for the first time."""
        return self.seal(self.unseal(value) if is_sealed(value) else value)

    def _unseal(self, sealed: str) -> str:
        kid = sealed_key_id(sealed)
        if kid is None:
            raise UnsealError("the value is not sealed: run `webhooks reencrypt` to seal it")
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise UnsealError(
                f"a value is sealed with key {kid}, which WEBHOOKS_ENCRYPTION_KEYS does not "
                f"hold (it holds {', '.join(self.key_ids)}); add that key back"
            )
        try:
            return fernet.decrypt(sealed.split(":", 2)[2].encode()).decode()
        except (InvalidToken, IndexError, UnicodeDecodeError):
            raise UnsealError(f"a value sealed with key {kid} is corrupt or was altered") from None
