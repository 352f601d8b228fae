"""Schemathesis over every route /openapi.json lists, with every check, on a real app and database.

Whatever the document lists is tested, routes added later included. The app resolves host
names from a table and lets every network through, so that a well-formed URL is accepted as
the document says (the network guard has its own tests).
"""

import ipaddress
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from flask import Flask
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events
from werkzeug.serving import make_server

from tests.support.api import API_KEY, other_app
from webhooks.config import Settings

POSITIVE_STATUSES = ["2xx", "401", "403", "404", "409"]
# Per operation and phase: the whole run stays within a minute on two cores. A deeper run:
# WEBHOOKS_TEST_SCHEMATHESIS_EXAMPLES=200 make test ARGS=tests/integration/test_api_schemathesis.py
EXAMPLES = int(os.environ.get("WEBHOOKS_TEST_SCHEMATHESIS_EXAMPLES", "15"))


def _config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "headers": {"Authorization": f"Bearer {API_KEY}"},
            "checks": {"enabled": True},
            "generation": {"max-examples": EXAMPLES, "deterministic": True},
            "max-failures": 20,
            "operations": [
                {
                    # `since` must lie within the last 14 days: JSON Schema has no "now", so
                    # the document says it in words, and a valid date-time outside is a 422.
                    "include-operation-id": "endpoints_recover",
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*POSITIVE_STATUSES, "422"]
                        }
                    },
                }
            ],
        }
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_every_route_agrees_with_the_document(settings: Settings) -> None:
    """No 5xx, and every status, header and body as documented; bad input refused, good taken."""
    everything = (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0"))
    with (
        other_app(settings, allow_networks=everything, allow_unresolved_hosts=True) as app,
        _serving(app) as base_url,
    ):
        schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=_config())
        failures: list[str] = []
        tested: set[str] = set()
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                if event.label:
                    tested.add(event.label)
                failures += _failures(event)
            elif isinstance(event, events.NonFatalError | events.FatalError):
                failures.append(repr(event))
    document = app.test_client().get("/openapi.json").get_json()
    assert not failures, "\n\n".join(failures)
    listed = {
        f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops
    }
    assert listed <= tested, sorted(listed - tested)


@contextmanager
def _serving(app: Flask) -> Iterator[str]:
    """Serve the app over real HTTP on 127.0.0.1 while the block runs."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def _failures(event: Any) -> list[str]:
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                interaction = event.recorder.interactions.get(case_id)
                answer = (
                    ""
                    if interaction is None or interaction.response is None
                    else (
                        f"{interaction.response.status_code} {interaction.response.content[:300]!r}"
                    )
                )
                found.append(
                    f"{event.label} [{event.phase}] {check.name}: "
                    f"{check.failure_info.failure.title} {check.failure_info.failure.message}\n"
                    f"  {check.failure_info.code_sample}\n  -> {answer}"
                )
    return found
