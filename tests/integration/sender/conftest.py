"""Fixtures for the sender's tests: one receiver per module, a fresh path per test."""

import itertools
from collections.abc import Iterator

import pytest

from tests.integration.sender import LOOPBACK, TIMEOUT
from tests.support.receiver import Receiver
from webhooks.delivery.sender import Sender

_paths = itertools.count()


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """One receiver for the module (each test has its own path): closing one takes time."""
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def hook() -> str:
    """A path of the receiver that no other test uses."""
    return f"/hook{next(_paths)}"


@pytest.fixture
def sender() -> Sender:
    """A sender that may reach loopback, with a one-second timeout."""
    return Sender(LOOPBACK, TIMEOUT, "webhooks/test")
