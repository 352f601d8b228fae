"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com)."""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"
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


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return one `v1,<base64>` signature of `{id}.{timestamp}.{body}`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
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
    """Check a received webhook as a receiver would; raise SignatureError if it fails."""
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
    expected = sign(secret, msg_id, timestamp, body)
    # Constant-time compare against each offered signature (several during a rotation).
    if not any(hmac.compare_digest(expected, candidate) for candidate in received):
        raise SignatureError("no matching signature")
