"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com).

Two schemes, told apart by the secret's prefix: `whsec_` signs `v1` (HMAC-SHA256, a secret
the receiver shares) and `whsk_` signs `v1a` (Ed25519: the receiver holds only the `whpk_`
public key, which cannot forge).
"""

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SECRET_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
HMAC_SHA256 = "hmac-sha256"
ED25519 = "ed25519"
SCHEMES = (HMAC_SHA256, ED25519)
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """A webhook's signature headers are missing, stale or do not match."""


def generate_secret(size: int = 32) -> str:
    """Return a new `whsec_` secret of `size` random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(size)).decode()


def secret_key(secret: str) -> bytes:
    """Decode a `whsec_` secret to its HMAC key, or raise ValueError."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a secret is 'whsec_' followed by base64") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a secret decodes to {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}"
        )
    return key


def generate_signing_key() -> str:
    """Return a new `whsk_` Ed25519 signing key (base64 of its 32-byte private key)."""
    raw = Ed25519PrivateKey.generate().private_bytes_raw()
    return SIGNING_KEY_PREFIX + base64.b64encode(raw).decode()


def new_secret(scheme: str) -> str:
    """A new secret of `scheme`: a `whsec_` secret or a `whsk_` signing key."""
    return generate_signing_key() if scheme == ED25519 else generate_secret()


def scheme_of(secret: str) -> str:
    """The signature scheme a secret signs with."""
    return ED25519 if secret.startswith(SIGNING_KEY_PREFIX) else HMAC_SHA256


def signing_key(secret: str) -> Ed25519PrivateKey:
    """Decode a `whsk_` signing key, or raise ValueError."""
    if not secret.startswith(SIGNING_KEY_PREFIX):
        raise ValueError(f"a signing key starts with {SIGNING_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(secret[len(SIGNING_KEY_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a signing key is 'whsk_' followed by base64") from None
    if len(raw) != 32:
        raise ValueError(f"a signing key decodes to 32 bytes, not {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def check_secret(secret: str) -> None:
    """Raise ValueError unless `secret` is a valid `whsec_` secret or `whsk_` signing key."""
    if secret.startswith(SIGNING_KEY_PREFIX):
        signing_key(secret)
    else:
        secret_key(secret)


def public_key(secret: str) -> str:
    """The `whpk_` public key that verifies what a `whsk_` signing key signs."""
    raw = signing_key(secret).public_key().public_bytes_raw()
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


# Decoded once per secret, not per attempt: the worker signs with the same few secrets all
# day. Bounded, and it holds only what the keyring already keeps unsealed in memory.
_hmac_key = functools.lru_cache(maxsize=4096)(secret_key)
_ed25519_key = functools.lru_cache(maxsize=4096)(signing_key)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return one signature of `{id}.{timestamp}.{body}`: `v1,<base64>` or `v1a,<base64>`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    if secret.startswith(SIGNING_KEY_PREFIX):
        return "v1a," + base64.b64encode(_ed25519_key(secret).sign(content)).decode()
    digest = hmac.new(_hmac_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Sign with every secret (several during a rotation), space-separated."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets_)


def webhook_headers(
    secrets_: Iterable[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Build the three Standard Webhooks headers for one attempt."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature_header(secrets_, msg_id, ts, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a received webhook as a receiver would; raise SignatureError if it fails.

    `secret` is the endpoint's `whsec_` secret, or its `whpk_` public key for Ed25519.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        msg_id = lowered["webhook-id"]
        timestamp = int(lowered["webhook-timestamp"])
        received = lowered["webhook-signature"].split()
    except (KeyError, ValueError):
        raise SignatureError("missing or malformed webhook-* headers") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance window")
    if secret.startswith(PUBLIC_KEY_PREFIX):
        _verify_ed25519(secret, f"{msg_id}.{timestamp}.".encode() + body, received)
        return
    expected = sign(secret, msg_id, timestamp, body)
    # Constant-time compare against each offered signature (several during a rotation).
    if not any(hmac.compare_digest(expected, candidate) for candidate in received):
        raise SignatureError("no matching signature")


def _verify_ed25519(public: str, content: bytes, received: list[str]) -> None:
    try:
        raw = base64.b64decode(public[len(PUBLIC_KEY_PREFIX) :], validate=True)
        key = Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise SignatureError("the public key is not 'whpk_' and base64 of 32 bytes") from None
    for candidate in received:
        version, _, signature = candidate.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature, validate=True), content)
            return
        except (binascii.Error, ValueError, InvalidSignature):
            continue
    raise SignatureError("no matching signature")
