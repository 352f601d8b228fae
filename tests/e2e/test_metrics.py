"""Metrics scraped over HTTP move by exactly what a known set of attempts did."""

from collections.abc import Iterator

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, wait_until
from tests.support.api import create_endpoint, deliveries_by_endpoint, post_event, wait_for_delivery
from tests.support.processes import CeleryProcess
from tests.support.receiver import Receiver, Reply
from tests.support.server import serving

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def metrics_port() -> int:
    """The worker's metrics port for this test."""
    return free_port()


@pytest.fixture
def env(env: dict[str, str], metrics_port: int) -> dict[str, str]:
    """The worker serves its metrics on a port of this test's own."""
    return {**env, "WEBHOOKS_WORKER_METRICS_PORT": str(metrics_port)}


@pytest.fixture
def api_url(app: Flask) -> Iterator[str]:
    """The API over real HTTP."""
    with serving(app) as url:
        yield url


def scrape(url: str) -> Samples:
    """Every sample at `url`, by name and labels."""
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_counters_move_by_the_attempts_made(
    client: FlaskClient,
    receiver: Receiver,
    worker: CeleryProcess,
    metrics_port: int,
    api_url: str,
) -> None:
    """Two 503s then a 200, and one 410: the worker's and the API's counters say exactly that."""
    worker_url = f"http://127.0.0.1:{metrics_port}/metrics"
    before = wait_until(lambda: _try_scrape(worker_url), message="no worker metrics port")
    assert (
        before.get(("webhooks_attempts_total", (("error", "none"), ("outcome", "success")))) is None
    )
    receiver.script("/flaky", Reply(503), Reply(503), Reply(200))
    receiver.script("/gone", Reply(410))
    flaky = create_endpoint(client, receiver.url("/flaky"), event_types=["a.*"])
    gone = create_endpoint(client, receiver.url("/gone"), event_types=["b.*"])
    first = post_event(client, "a.one")
    second = post_event(client, "b.two")
    wait_for_delivery(client, deliveries_by_endpoint(first)[flaky["id"]], "succeeded")
    wait_for_delivery(client, deliveries_by_endpoint(second)[gone["id"]], "failed")

    found = scrape(worker_url)

    def attempts(outcome: str, error: str) -> float:
        return found.get(("webhooks_attempts_total", (("error", error), ("outcome", outcome))), 0)

    assert attempts("failure", "http_5xx") == 2
    assert attempts("failure", "http_4xx") == 1
    assert attempts("success", "none") == 1
    assert found[("webhooks_deliveries_finished_total", (("status", "succeeded"),))] == 1
    assert found[("webhooks_deliveries_finished_total", (("status", "failed"),))] == 1
    assert found[("webhooks_attempt_duration_seconds_count", ())] == 4
    assert found[("webhooks_delivery_latency_seconds_count", ())] == 1
    assert 0 < found[("webhooks_delivery_latency_seconds_sum", ())] < 30
    assert found[("process_resident_memory_bytes", ())] > 0

    api = scrape(f"{api_url}/metrics")
    assert api[("webhooks_events_accepted_total", ())] == 2
    assert api[("webhooks_deliveries_pending", ())] == 0
    assert api[("webhooks_endpoints", (("state", "disabled"),))] == 1


def _try_scrape(url: str) -> Samples | None:
    try:
        return scrape(url)
    except requests.ConnectionError:
        return None
