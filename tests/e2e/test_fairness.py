"""Fairness, end to end: rate limits and caps across two worker processes, a hanging endpoint
that cannot starve a healthy one, and limits changed while running."""

import itertools
import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from tests.support.api import attempts_of, create_endpoint, post_event, wait_for_delivery
from tests.support.processes import CeleryProcess, start_worker
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

TIMEOUT_SECONDS = 2.0  # WEBHOOKS_DELIVERY_TIMEOUT_SECONDS of the shared `env`


@pytest.fixture
def second_worker(env: dict[str, str]) -> Iterator[CeleryProcess]:
    """Another worker process: the limits must hold across processes, not only threads."""
    process = start_worker(env)
    yield process
    process.kill()


def send(client: FlaskClient, count: int, event_type: str = "invoice.paid") -> list[str]:
    """Send `count` events; return their delivery ids."""
    return [post_event(client, event_type)["deliveries"][0]["id"] for _ in range(count)]


def all_succeed(client: FlaskClient, delivery_ids: list[str], timeout: float = 30.0) -> None:
    """Every delivery succeeds, each in exactly one attempt: a held delivery records none."""
    for delivery_id in delivery_ids:
        delivery = wait_for_delivery(client, delivery_id, "succeeded", timeout=timeout)
        assert delivery["attempt_count"] == 1, delivery
        assert len(attempts_of(client, delivery_id)) == 1


def test_rate_limit_spaces_arrivals_across_two_workers(
    client: FlaskClient,
    receiver: Receiver,
    worker: CeleryProcess,
    second_worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """`rate_limit: 4` with 16 deliveries at once: arrivals a quarter second apart, no more."""
    create_endpoint(client, receiver.url("/limited"), rate_limit=4)
    delivery_ids = send(client, 16)

    arrivals = [r.at for r in receiver.wait_for(16, "/limited", timeout=30)]
    all_succeed(client, delivery_ids)
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    # GCRA spaces them evenly; a countdown may fire a little late, never early, and the one
    # after a late one goes no closer than the limit's burst (0.1 s) allows.
    assert min(gaps) >= 0.15, gaps
    rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    assert 3.6 <= rate <= 4.4, gaps


def test_in_flight_cap_is_never_exceeded(
    client: FlaskClient,
    receiver: Receiver,
    worker: CeleryProcess,
    second_worker: CeleryProcess,
    beat: CeleryProcess,
) -> None:
    """`max_in_flight: 2` with 16 threads free: the receiver never sees more than 2 at once."""
    receiver.script("/capped", Reply(200, delay=0.3))
    create_endpoint(client, receiver.url("/capped"), max_in_flight=2)
    delivery_ids = send(client, 12)

    all_succeed(client, delivery_ids)
    # The cap is used, not only respected: the endpoint's start at one slot grows to two.
    assert receiver.peak_in_flight("/capped") == 2


def test_hanging_endpoint_does_not_delay_a_healthy_one(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """A backlog for an endpoint that hangs past the timeout leaves the healthy one prompt."""
    receiver.script("/hangs", Reply(200, delay=30))
    create_endpoint(client, receiver.url("/hangs"), event_types=["slow.thing"])
    create_endpoint(client, receiver.url("/healthy"), event_types=["fast.thing"])
    send(client, 40, "slow.thing")  # 8 threads: without fairness all of them would hang
    time.sleep(TIMEOUT_SECONDS)

    for n in range(1, 6):
        sent = time.time()
        send(client, 1, "fast.thing")
        arrived = receiver.wait_for(n, "/healthy", timeout=10)[-1].at
        assert arrived - sent < 2.0, f"healthy webhook {n} took {arrived - sent:.1f} s"
    # The hanging endpoint was given one thread, as the adaptive cap says.
    assert receiver.peak_in_flight("/hangs") <= 2


def test_changed_limits_apply_without_a_restart(
    client: FlaskClient, receiver: Receiver, worker: CeleryProcess, beat: CeleryProcess
) -> None:
    """PATCH `rate_limit` from 1 to unlimited: the next deliveries are no longer spaced."""
    endpoint = create_endpoint(client, receiver.url("/patched"), rate_limit=1)
    all_succeed(client, send(client, 3))
    arrivals = [r.at for r in receiver.received("/patched")]
    assert arrivals[-1] - arrivals[0] >= 1.8  # one a second

    response = client.patch(f"/v1/endpoints/{endpoint['id']}", json={"rate_limit": None})
    assert response.status_code == 200
    started = time.time()
    all_succeed(client, send(client, 8))
    assert receiver.wait_for(11, "/patched")[-1].at - started < 3.0
