"""One HTTP attempt against real servers on 127.0.0.1: what the audit table would record."""

import base64
import socket

import pytest

from tests.integration.sender import BODY
from tests.support.receiver import Receiver, Reply
from webhooks.delivery.answer import BINARY_MARKER
from webhooks.delivery.sender import Sender
from webhooks.models import RESPONSE_BODY_LIMIT

HEADERS = {"content-type": "application/json", "webhook-id": "evt_1"}


def test_200_with_body_records_status_and_body(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A 2xx answer is stored with its status and body text, and the request went out intact."""
    receiver.script(hook, Reply(200, b'{"received": true}'))
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert (response.status_code, response.body, response.error) == (
        200,
        '{"received": true}',
        None,
    )
    assert response.duration_ms > 0
    (request,) = receiver.received(hook)
    assert request.body == BODY
    assert request.headers["webhook-id"] == "evt_1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "webhooks/test"
    assert request.headers["host"] == f"127.0.0.1:{receiver.port}"


@pytest.mark.parametrize("status", [201, 400, 410, 500])
def test_any_status_is_recorded_as_answered(
    sender: Sender, receiver: Receiver, hook: str, status: int
) -> None:
    """Non-2xx answers are responses too: their status is stored, with no error."""
    receiver.script(hook, Reply(status, b"nope"))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (status, "nope", None)


def test_retry_after_is_passed_on(sender: Sender, receiver: Receiver, hook: str) -> None:
    """A 503's Retry-After reaches the scheduler's input."""
    receiver.script(hook, Reply(503, headers={"Retry-After": "120"}))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert (response.status_code, response.retry_after) == (503, "120")


def test_long_body_is_truncated_to_the_stored_limit(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A body over 4096 bytes is kept as its first 4096 bytes."""
    body = (b"0123456789abcdef" * 1024)[:10_000]
    receiver.script(hook, Reply(200, body))
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert response.status_code == 200
    assert response.body == body[:RESPONSE_BODY_LIMIT].decode()
    assert len(response.body.encode()) == RESPONSE_BODY_LIMIT == 4096


def test_utf8_body_cut_mid_character_stays_within_the_limit(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A multi-byte character split by the 4096-byte cut doesn't push the stored body past it."""
    body = b"x" + "é".encode() * 3000  # byte 4096 is the first half of an "é"
    receiver.script(hook, Reply(200, body))
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert response.body == "x" + "é" * 2047  # the half character is dropped, not replaced
    assert len(response.body.encode()) == RESPONSE_BODY_LIMIT - 1


def test_nul_byte_in_body_is_stored_safely(sender: Sender, receiver: Receiver, hook: str) -> None:
    """A NUL (which PostgreSQL text cannot hold) makes the body binary: stored as base64, whole."""
    receiver.script(hook, Reply(200, b"ok\x00then more"))
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert response.status_code == 200
    assert response.body == BINARY_MARKER + base64.b64encode(b"ok\x00then more").decode()


def test_binary_body_is_stored_as_base64_within_the_limit(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A body that is not UTF-8 is kept as `base64:` and its first bytes, in 4096 bytes at most."""
    body = bytes(range(256)) * 40  # 10240 bytes, not UTF-8
    receiver.script(hook, Reply(200, body))
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert response.status_code == 200
    assert response.body is not None and response.body.startswith(BINARY_MARKER)
    assert len(response.body.encode()) <= RESPONSE_BODY_LIMIT
    kept = base64.b64decode(response.body.removeprefix(BINARY_MARKER))
    assert body.startswith(kept)
    assert len(kept) >= 3000  # as much as fits, not a token sample


def test_latin1_text_is_binary_not_mangled(sender: Sender, receiver: Receiver, hook: str) -> None:
    """Bytes that are not UTF-8 are never replaced with U+FFFD: base64 keeps every one."""
    receiver.script(hook, Reply(200, "refusé".encode("latin-1")))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert response.body == BINARY_MARKER + base64.b64encode("refusé".encode("latin-1")).decode()


def test_text_that_looks_like_the_marker_is_not_taken_for_binary(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """A text body beginning with `base64:` is stored encoded: a stored marker is never text."""
    receiver.script(hook, Reply(200, b"base64:aGk="))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert response.body == BINARY_MARKER + base64.b64encode(b"base64:aGk=").decode()


def test_connection_refused_is_connection_error(sender: Sender) -> None:
    """Nobody listening on the port: connection_error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    response = sender.send(f"http://127.0.0.1:{port}/hook", HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (None, None, "connection_error")


def test_garbage_instead_of_http_is_invalid_response(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """Bytes that are not an HTTP status line: invalid_response."""
    receiver.script(hook, Reply(action="garbage"))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (None, None, "invalid_response")


def test_server_hanging_up_without_answer_is_connection_error(
    sender: Sender, receiver: Receiver, hook: str
) -> None:
    """The receiver reads the request and closes the connection: connection_error."""
    receiver.script(hook, Reply(action="close"))
    response = sender.send(receiver.url(hook), HEADERS, BODY)
    assert (response.status_code, response.body, response.error) == (None, None, "connection_error")
    assert len(receiver.received(hook)) == 1


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_not_followed(
    sender: Sender, receiver: Receiver, hook: str, status: int
) -> None:
    """A redirect is recorded with its status and redirect_not_followed; Location is not fetched."""
    receiver.script(
        hook, Reply(status, b"moved", headers={"Location": receiver.url(hook + "/else")})
    )
    response = sender.send(receiver.url(hook), HEADERS, BODY)

    assert (response.status_code, response.body, response.error) == (
        status,
        "moved",
        "redirect_not_followed",
    )
    assert receiver.received(hook + "/else") == []
    assert len(receiver.received(hook)) == 1
