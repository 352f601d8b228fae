"""Fixtures for the sender's tests: one receiver per module, a fresh path per test."""

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.sender import LOOPBACK, NAME, TIMEOUT
from tests.support.receiver import Receiver
from tests.support.tlsserver import TLSServer
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


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate (and its key) for NAME only, made with the openssl CLI."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = (
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
        f" -subj /CN={NAME} -addext subjectAltName=DNS:{NAME}"
    ).split()
    subprocess.run([*command, "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.fixture
def tls_server(certificate: tuple[Path, Path]) -> Iterator[TLSServer]:
    """A running HTTPS server with the self-signed certificate."""
    server = TLSServer(*certificate)
    yield server
    server.close()
