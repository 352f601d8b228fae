"""Signatures a receiver can check with any Standard Webhooks library, and secrets we accept."""

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from webhooks.security.signing import (
    SignatureError,
    generate_secret,
    secret_key,
    sign,
    verify,
    webhook_headers,
)

# The test vector published with the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = b'{"type": "invoice.paid", "timestamp": "2026-11-26T16:36:19.123Z", "data": {}}'


def test_sign_matches_the_standard_webhooks_test_vector() -> None:
    """Our signature is byte-for-byte the one the specification publishes."""
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_headers_verify_with_the_standardwebhooks_library() -> None:
    """A receiver using the reference library accepts what we send."""
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_1", BODY)

    assert Webhook(secret).verify(BODY, headers) is not None
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert headers["webhook-id"] == "evt_1"


def test_rotation_sends_two_signatures_and_either_secret_verifies() -> None:
    """During a rotation a receiver holding the old or the new secret accepts the webhook."""
    old, new = generate_secret(), generate_secret()
    headers = webhook_headers([new, old], "evt_1", BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers)
        verify(secret, headers, BODY)
    # A third secret matches neither signature.
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_reference_library_rejects_a_tampered_body() -> None:
    """The independent verifier notices a body changed in transit."""
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_1", BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"paid", b"void"), headers)


def test_verify_accepts_our_own_headers() -> None:
    """Our verifier, as a receiver would run it, accepts a fresh webhook."""
    secret = generate_secret()
    verify(secret, webhook_headers([secret], "evt_1", BODY), BODY)


def test_verify_rejects_a_tampered_body() -> None:
    """One changed byte in the body fails verification."""
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_1", BODY)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(secret, headers, BODY + b" ")


def test_verify_rejects_a_wrong_secret() -> None:
    """A webhook signed with another endpoint's secret fails verification."""
    headers = webhook_headers([generate_secret()], "evt_1", BODY)
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(generate_secret(), headers, BODY)


def test_verify_rejects_a_changed_message_id() -> None:
    """The id is signed too: replaying a body under another id fails."""
    secret = generate_secret()
    headers = {**webhook_headers([secret], "evt_1", BODY), "webhook-id": "evt_2"}
    with pytest.raises(SignatureError, match="no matching signature"):
        verify(secret, headers, BODY)


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_verify_rejects_a_stale_or_future_timestamp(age: int) -> None:
    """A correctly signed webhook outside the five-minute window is refused (replay)."""
    secret = generate_secret()
    now = 1_800_000_000
    headers = webhook_headers([secret], "evt_1", BODY, timestamp=now - age)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(secret, headers, BODY, now=now)
    verify(secret, headers, BODY, now=now, tolerance=abs(age))


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_verify_rejects_missing_headers(missing: str) -> None:
    """Each of the three headers is required."""
    secret = generate_secret()
    headers = webhook_headers([secret], "evt_1", BODY)
    del headers[missing]
    with pytest.raises(SignatureError, match="missing"):
        verify(secret, headers, BODY)


def test_verify_rejects_a_malformed_timestamp() -> None:
    """A timestamp that is not whole seconds is refused, not crashed on."""
    secret = generate_secret()
    headers = {**webhook_headers([secret], "evt_1", BODY), "webhook-timestamp": "soon"}
    with pytest.raises(SignatureError):
        verify(secret, headers, BODY)


def test_verify_reads_header_names_case_insensitively() -> None:
    """Headers as a framework hands them over (Title-Case) verify the same."""
    secret = generate_secret()
    headers = {k.title(): v for k, v in webhook_headers([secret], "evt_1", BODY).items()}
    verify(secret, headers, BODY)


def test_generate_secret_is_whsec_and_base64_of_24_to_64_bytes() -> None:
    """Generated secrets have the documented shape, differ each time, and are accepted."""
    secrets_ = {generate_secret() for _ in range(20)}
    assert len(secrets_) == 20
    for secret in secrets_:
        assert secret.startswith("whsec_")
        raw = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        assert 24 <= len(raw) <= 64
        assert secret_key(secret) == raw


@pytest.mark.parametrize("size", [24, 64])
def test_generate_secret_sizes_at_the_bounds_are_accepted(size: int) -> None:
    """The smallest and largest secret sizes round-trip through secret_key."""
    assert len(secret_key(generate_secret(size))) == size


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # wrong prefix
        "whsec_",  # empty
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"k" * 23).decode(),  # too short a key
        "whsec_" + base64.b64encode(b"k" * 65).decode(),  # too long a key
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",  # bad padding
    ],
)
def test_secret_key_refuses_malformed_secrets(secret: str) -> None:
    """A secret that is not `whsec_` + base64 of 24..64 bytes is refused."""
    with pytest.raises(ValueError):
        secret_key(secret)
