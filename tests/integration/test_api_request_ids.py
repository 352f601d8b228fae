"""A request id on every API response and log line: the caller's, or one made up."""

import io
import json

import pytest
from flask.testing import FlaskClient

from tests.support.api import keyed_client
from webhooks.observability.logs import configure_logging

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def logged(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_the_callers_request_id_is_echoed_and_logged(client: FlaskClient) -> None:
    """X-Request-Id comes back as sent and is on the request's log line."""
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    response = client.get("/v1/endpoints", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    (line,) = logged(buffer)
    assert (line["message"], line["request_id"], line["status_code"]) == ("request", "abc-123", 200)
    assert (line["method"], line["path"]) == ("GET", "/v1/endpoints")


def test_a_request_id_is_made_up_when_missing_or_unusable(client: FlaskClient) -> None:
    """No header, or one that would not belong in a log line: a new id, on refusals too."""
    buffer = io.StringIO()
    configure_logging("INFO", "json", stream=buffer)
    made = client.get("/v1/endpoints").headers["X-Request-Id"]
    assert made.startswith("req_")
    odd = client.get("/v1/endpoints", headers={"X-Request-Id": "a b\tc" + "x" * 200})
    assert odd.headers["X-Request-Id"].startswith("req_")
    refused = keyed_client(client.application, "wrong-key").get("/v1/endpoints")
    assert refused.status_code == 401 and refused.headers["X-Request-Id"].startswith("req_")
    lines = logged(buffer)
    assert [line["status_code"] for line in lines] == [200, 200, 401]
    assert len({line["request_id"] for line in lines}) == 3
    assert "wrong-key" not in buffer.getvalue()
