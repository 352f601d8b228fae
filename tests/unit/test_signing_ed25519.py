"""Ed25519 (`v1a`): signatures verified with cryptography's public key, never forgeable by it."""

import base64
import time

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from webhooks.security.signing import (
    ED25519,
    HMAC_SHA256,
    SignatureError,
    check_secret,
    generate_secret,
    generate_signing_key,
    new_secret,
    public_key,
    scheme_of,
    verify,
    webhook_headers,
)

BODY = b'{"type": "invoice.paid", "timestamp": "2026-11-26T16:36:19.123Z", "data": {}}'


def _public(whpk: str) -> Ed25519PublicKey:
    assert whpk.startswith("whpk_")
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(whpk[5:], validate=True))


def _v1a(header: str) -> list[bytes]:
    return [base64.b64decode(s[4:]) for s in header.split() if s.startswith("v1a,")]


def test_v1a_signature_verifies_with_the_public_key() -> None:
    """`v1a,<base64>` over `{id}.{timestamp}.{body}`, checked by cryptography's Ed25519."""
    key = generate_signing_key()
    headers = webhook_headers([key], "evt_1", BODY)
    (signature,) = _v1a(headers["webhook-signature"])
    signed = f"evt_1.{headers['webhook-timestamp']}.".encode() + BODY
    _public(public_key(key)).verify(signature, signed)
    with pytest.raises(InvalidSignature):
        _public(public_key(key)).verify(signature, signed + b" ")
    with pytest.raises(InvalidSignature):
        _public(public_key(generate_signing_key())).verify(signature, signed)
    # Our own receiver-side check agrees, given the public key only.
    verify(public_key(key), headers, BODY)
    with pytest.raises(SignatureError):
        verify(public_key(generate_signing_key()), headers, BODY)


def test_rotation_sends_both_signatures_each_verifies_with_its_key() -> None:
    """During a rotation the header holds a v1a signature per key; a receiver with either passes."""
    old, new = generate_signing_key(), generate_signing_key()
    headers = webhook_headers([new, old], "evt_2", BODY, timestamp=int(time.time()))
    assert len(_v1a(headers["webhook-signature"])) == 2
    for key in (old, new):
        verify(public_key(key), headers, BODY)


def test_schemes_follow_the_secret_prefix() -> None:
    """whsec_ signs v1 (HMAC), whsk_ signs v1a; a scheme change mid-rotation carries both."""
    hmac_secret, signing = generate_secret(), generate_signing_key()
    assert (scheme_of(hmac_secret), scheme_of(signing)) == (HMAC_SHA256, ED25519)
    assert new_secret(ED25519).startswith("whsk_") and new_secret(HMAC_SHA256).startswith("whsec_")
    header = webhook_headers([signing, hmac_secret], "evt_3", BODY)["webhook-signature"]
    assert [part.split(",")[0] for part in header.split()] == ["v1a", "v1"]


@pytest.mark.parametrize(
    "bad",
    [
        "whsk_",
        "whsk_" + base64.b64encode(b"x" * 31).decode(),
        "whsk_" + base64.b64encode(b"x" * 64).decode(),
        "whsk_not base64!",
    ],
)
def test_malformed_signing_keys_are_refused(bad: str) -> None:
    """A whsk_ key is base64 of exactly 32 bytes."""
    with pytest.raises(ValueError):
        check_secret(bad)
