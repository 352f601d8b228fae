"""Bodies of unknown length (chunked) are held to the limit exactly, whatever server runs the app.

The production server de-chunks and counts bodies itself (tests/e2e/test_web_server.py); these
requests come as other WSGI servers hand them over: de-chunked with no Content-Length.
"""

import io

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from webhooks.config import Settings

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _post_streamed(client: FlaskClient, body: bytes, terminated: bool = True) -> TestResponse:
    # No length: the test client would compute one from the stream.
    environ = {"HTTP_TRANSFER_ENCODING": "chunked", "CONTENT_LENGTH": ""}
    if terminated:
        environ["wsgi.input_terminated"] = True  # type: ignore[assignment]
    return client.post(
        "/v1/events",
        input_stream=io.BytesIO(body),
        content_type="application/json",
        environ_overrides=environ,
    )


def _event_of_size(size: int) -> bytes:
    body = b'{"type": "invoice.paid", "data": {}}'
    return body + b" " * (size - len(body))


def test_streamed_body_one_byte_over_the_limit_is_413(
    client: FlaskClient, settings: Settings
) -> None:
    """Werkzeug alone would read the first MAX_CONTENT_LENGTH bytes and accept them: 413 here."""
    response = _post_streamed(client, _event_of_size(settings.max_payload_bytes + 1))
    assert response.status_code == 413
    assert response.content_type == "application/problem+json"
    assert response.json is not None and response.json["status"] == 413


def test_streamed_body_at_the_limit_is_accepted(client: FlaskClient, settings: Settings) -> None:
    """Exactly the limit is still a body the API takes."""
    response = _post_streamed(client, _event_of_size(settings.max_payload_bytes))
    assert response.status_code == 202, response.json


def test_chunked_body_the_server_did_not_dechunk_is_411(client: FlaskClient) -> None:
    """A server passing chunked framing through: 411, never an empty body taken for the request."""
    response = _post_streamed(client, _event_of_size(100), terminated=False)
    assert response.status_code == 411
    assert response.content_type == "application/problem+json"
