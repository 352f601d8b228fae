"""Ed25519 endpoints end to end: `v1a` signatures a receiver checks with the public key alone."""

import base64

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask.testing import FlaskClient

from tests.support.api import create_endpoint, json_body, post_event, problem
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver
from webhooks.security.signing import generate_secret, generate_signing_key, public_key

URL = "https://example.com/hook"


def _verify(public_key: str, headers: dict[str, str], body: bytes) -> int:
    """Count the `v1a` signatures that this `whpk_` key verifies (cryptography's Ed25519)."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    verified = 0
    for candidate in headers["webhook-signature"].split():
        version, _, signature = candidate.partition(",")
        assert version == "v1a", candidate
        try:
            key.verify(base64.b64decode(signature), signed)
            verified += 1
        except Exception:  # InvalidSignature: another key's signature
            continue
    return verified


def test_ed25519_endpoint_signs_v1a_and_rotates(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess
) -> None:
    """The receiver verifies with `whpk_` only; after a rotation both keys' signatures come."""
    url = receiver.url("/ed").replace("http://", "http://hook:pa55@")
    endpoint = create_endpoint(client, url, signature_scheme="ed25519")
    assert endpoint["secret"] is None and endpoint["public_key"].startswith("whpk_")
    assert endpoint["url"].startswith("http://hook:***@")
    old_key = endpoint["public_key"]

    post_event(client)
    (first,) = receiver.wait_for(1, "/ed")
    assert _verify(old_key, first.headers, first.body) == 1
    # The sealed URL's credentials reach the receiver, as HTTP basic auth.
    assert first.headers["authorization"] == "Basic " + base64.b64encode(b"hook:pa55").decode()

    rotated = json_body(client.post(f"/v1/endpoints/{endpoint['id']}/secret/rotate"))
    assert rotated["secret"] is None and rotated["public_key"] not in (None, old_key)
    assert (
        json_body(client.get(f"/v1/endpoints/{endpoint['id']}"))["public_key"]
        == (rotated["public_key"])
    )
    post_event(client)
    second = receiver.wait_for(2, "/ed")[1]
    assert len(second.headers["webhook-signature"].split()) == 2
    assert _verify(old_key, second.headers, second.body) == 1
    assert _verify(rotated["public_key"], second.headers, second.body) == 1


def test_the_secret_kind_and_the_scheme_agree(client: FlaskClient) -> None:
    """A secret of the other kind than the scheme is a 422; a PATCHed secret sets the scheme."""
    signing_key = generate_signing_key()
    for body in (
        {"signature_scheme": "ed25519", "secret": generate_secret()},
        {"signature_scheme": "hmac-sha256", "secret": signing_key},
    ):
        refused = problem(client.post("/v1/endpoints", json={"url": URL, **body}), 422)
        assert [e["loc"] for e in refused["errors"]] == [["secret"]]
    imported = create_endpoint(client, URL, secret=signing_key)
    assert (imported["signature_scheme"], imported["public_key"]) == (
        "ed25519",
        public_key(signing_key),
    )
    path = f"/v1/endpoints/{imported['id']}"
    switched = json_body(client.patch(path, json={"secret": generate_secret()}))
    assert (switched["signature_scheme"], switched["public_key"]) == ("hmac-sha256", None)
    assert json_body(client.get(f"{path}/secret"))["secret"].startswith("whsec_")
