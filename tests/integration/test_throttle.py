"""The throttle's Lua scripts on the real test Redis: slots, the adaptive cap, the rate limit."""

import time
from collections.abc import Iterator

import pytest
import redis

from webhooks.delivery.throttle import Limits, Throttle, Verdict
from webhooks.ids import new_id

UNLIMITED = Limits(rate=None, in_flight=10)


@pytest.fixture
def throttle(redis_url: str) -> Iterator[Throttle]:
    """A throttle with a horizon of a quarter second and slots that last one second."""
    client = redis.Redis.from_url(redis_url)
    yield Throttle(client, lease_seconds=1.0, horizon=0.25)
    client.close()


@pytest.fixture
def endpoint() -> str:
    """A new endpoint's id: nothing is known about it yet."""
    return new_id("ep")


def verdicts(throttle: Throttle, endpoint: str, limits: Limits, count: int) -> list[Verdict]:
    """Ask for `count` slots at once."""
    return [throttle.acquire(endpoint, limits, f"t{n}", False).verdict for n in range(count)]


def test_a_new_endpoint_starts_with_one_slot_and_gains_one_per_answer(
    throttle: Throttle, endpoint: str
) -> None:
    """Slow start: one in flight, then one more after each answered attempt."""
    assert verdicts(throttle, endpoint, UNLIMITED, 2) == [Verdict.GO, Verdict.FULL]

    throttle.release(endpoint, "t0", timed_out=False, most=10)
    assert verdicts(throttle, endpoint, UNLIMITED, 3) == [Verdict.GO, Verdict.GO, Verdict.FULL]


def test_timeouts_halve_the_cap_and_the_maximum_bounds_it(
    throttle: Throttle, endpoint: str
) -> None:
    """Answers raise the cap up to the endpoint's maximum; a timeout halves it, to one at least."""
    for _ in range(10):
        throttle.acquire(endpoint, Limits(None, 4), "t", False)
        throttle.release(endpoint, "t", timed_out=False, most=4)
    assert verdicts(throttle, endpoint, Limits(None, 4), 5).count(Verdict.GO) == 4
    for n in range(4):
        throttle.release(endpoint, f"t{n}", timed_out=n == 0, most=4)
    # 4 halved to 2, then raised by the three answers, but never past the maximum of 4.
    assert verdicts(throttle, endpoint, Limits(None, 4), 5).count(Verdict.GO) == 4
    for n in range(4):
        throttle.release(endpoint, f"t{n}", timed_out=True, most=4)
    assert verdicts(throttle, endpoint, Limits(None, 4), 2) == [Verdict.GO, Verdict.FULL]


def test_a_lowered_maximum_applies_at_once(throttle: Throttle, endpoint: str) -> None:
    """A PATCH of max_in_flight is read at the next attempt: no more than the new maximum."""
    for _ in range(5):
        throttle.acquire(endpoint, Limits(None, 5), "t", False)
        throttle.release(endpoint, "t", timed_out=False, most=5)
    assert verdicts(throttle, endpoint, Limits(None, 2), 3) == [
        Verdict.GO,
        Verdict.GO,
        Verdict.FULL,
    ]


def test_a_slot_outlives_its_lease_no_longer(throttle: Throttle, endpoint: str) -> None:
    """A worker that dies holding a slot loses it when the slot's lease runs out."""
    assert verdicts(throttle, endpoint, UNLIMITED, 2) == [Verdict.GO, Verdict.FULL]
    time.sleep(1.1)
    assert throttle.acquire(endpoint, UNLIMITED, "other", False).verdict is Verdict.GO


def test_the_rate_limit_reserves_instants_up_to_the_horizon(
    throttle: Throttle, endpoint: str
) -> None:
    """At 2/s: now, then instants half a second apart while they fall within the horizon
    (1.2 s here), then later."""
    throttle = Throttle(throttle.client, lease_seconds=1.0, horizon=1.2)
    limits = Limits(rate=2, in_flight=100)
    slots = [throttle.acquire(endpoint, limits, "t0", False)]
    throttle.release(endpoint, "t0", timed_out=False, most=100)  # its one slot is free again
    slots += [throttle.acquire(endpoint, limits, f"t{n}", False) for n in range(1, 4)]

    assert [s.verdict for s in slots] == [
        Verdict.GO,
        Verdict.RESERVED,
        Verdict.RESERVED,
        Verdict.LATER,
    ]
    waits = [s.wait_seconds for s in slots[1:]]
    assert waits == pytest.approx([0.5, 1.0, 1.5], abs=0.1)
    # A delivery that waited for its reserved instant is not counted twice.
    time.sleep(slots[1].wait_seconds)
    assert throttle.acquire(endpoint, limits, "t1", True).verdict is Verdict.GO


def test_sends_never_run_ahead_of_the_limit_by_more_than_the_burst(
    throttle: Throttle, endpoint: str
) -> None:
    """A countdown that ran late went out just now: the next one, though its instant has come,
    takes a new instant rather than go beside it (late ones never bunch above the limit)."""
    throttle = Throttle(throttle.client, lease_seconds=1.0, horizon=5.0)
    limits = Limits(rate=2, in_flight=100)
    first = [throttle.acquire(endpoint, limits, "t0", False)]
    throttle.release(endpoint, "t0", timed_out=False, most=100)  # its one slot is free again
    first += [throttle.acquire(endpoint, limits, f"t{n}", False) for n in (1, 2)]
    assert [s.verdict for s in first] == [Verdict.GO, Verdict.RESERVED, Verdict.RESERVED]
    time.sleep(first[2].wait_seconds)  # both instants have come; t1 ran late, t2 on time
    assert throttle.acquire(endpoint, limits, "t1", True).verdict is Verdict.GO
    throttle.release(endpoint, "t1", timed_out=False, most=100)
    again = throttle.acquire(endpoint, limits, "t2", True)
    assert again.verdict is Verdict.RESERVED
    assert again.wait_seconds == pytest.approx(0.5, abs=0.1)  # the next free instant


def test_a_reserved_instant_that_finds_no_slot_is_given_back(
    throttle: Throttle, endpoint: str
) -> None:
    """Every slot taken when its instant comes: the instant goes to the next delivery."""
    throttle = Throttle(throttle.client, lease_seconds=1.0, horizon=1.2)
    limits = Limits(rate=2, in_flight=1)
    assert throttle.acquire(endpoint, limits, "t0", False).verdict is Verdict.GO
    throttle.release(endpoint, "t0", timed_out=False, most=1)
    reserved = throttle.acquire(endpoint, limits, "t1", False)
    assert reserved.verdict is Verdict.RESERVED
    time.sleep(reserved.wait_seconds)
    # Its one slot taken by a delivery sent before the limit was set.
    assert throttle.acquire(endpoint, Limits(None, 1), "busy", False).verdict is Verdict.GO
    assert throttle.acquire(endpoint, limits, "t1", True).verdict is Verdict.FULL
    throttle.release(endpoint, "busy", timed_out=True, most=1)

    # Without the refund the next instant would be half a second away: it is now.
    assert throttle.acquire(endpoint, limits, "t2", False).verdict is Verdict.GO


def test_free_slots_are_handed_over_only_when_deliveries_wait(
    throttle: Throttle, endpoint: str
) -> None:
    """release() counts the free slots for held deliveries, and 0 when none are marked."""
    throttle.acquire(endpoint, UNLIMITED, "t", False)
    assert throttle.release(endpoint, "t", timed_out=False, most=10) == 0

    throttle.mark_waiting(endpoint)
    assert throttle.waiting([endpoint, new_id("ep")]) == {endpoint}
    throttle.acquire(endpoint, UNLIMITED, "t", False)
    assert throttle.release(endpoint, "t", timed_out=False, most=10) == 3
    throttle.clear_waiting(endpoint)
    assert throttle.waiting([endpoint]) == set()
