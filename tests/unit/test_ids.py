"""Ids: typed prefixes, fixed width, and sorting in creation order."""

import re
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import pytest

from webhooks import ids
from webhooks.ids import new_id

ULID = re.compile(r"[0-9a-hjkmnp-tv-z]{26}")  # Crockford base32, lowercase


@pytest.mark.parametrize("prefix", ["ep", "evt", "dlv", "att"])
def test_ids_carry_their_type_prefix_and_a_fixed_width_ulid(prefix: str) -> None:
    """Every id is `prefix_` + 26 Crockford base32 characters."""
    value = new_id(prefix)
    head, _, tail = value.partition("_")
    assert head == prefix
    assert ULID.fullmatch(tail), value
    assert len(value) == len(prefix) + 1 + 26


def test_ids_are_unique_within_one_millisecond() -> None:
    """Many ids made at the same instant never collide (80 random bits)."""
    assert len({new_id("evt") for _ in range(10_000)}) == 10_000


def test_ids_made_in_sequence_sort_in_creation_order_within_a_millisecond() -> None:
    """Ids made one after another sort as made, even many to the millisecond."""
    made = [new_id("evt") for _ in range(5_000)]
    assert sorted(made) == made


def test_sort_order_follows_creation_time_across_milliseconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An id made a millisecond later sorts after, whatever its random part."""
    clock = _clock(1_764_174_979_123, steps=200)
    _freeze(monkeypatch, lambda: next(clock))
    made = [new_id("dlv") for _ in range(200)]
    assert sorted(made) == made
    assert len(set(made)) == 200


def test_sort_order_holds_across_a_change_of_digit_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fixed width: an id from a 'short' timestamp never sorts after a later 'long' one."""
    early, late = 31, 2**40  # milliseconds whose base32 forms differ in length without padding
    times = iter([late * 1_000_000, early * 1_000_000])
    _freeze(monkeypatch, lambda: next(times))
    later_id, earlier_id = new_id("att"), new_id("att")
    assert earlier_id < later_id


def test_real_clock_ids_sort_in_creation_order() -> None:
    """Ids made at least a millisecond apart by the real clock sort by creation."""
    made = []
    for _ in range(5):
        made.append(new_id("evt"))
        _sleep_past_this_millisecond()
    assert sorted(made) == made


def test_timestamp_is_readable_from_the_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ten characters encode the creation time in milliseconds (ULID layout)."""
    millis = 1_764_174_979_123
    _freeze(monkeypatch, lambda: millis * 1_000_000 + 456_789)
    tail = new_id("ep").partition("_")[2]
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    decoded = 0
    for char in tail[:10]:
        decoded = decoded * 32 + alphabet.index(char)
    # 26 characters hold 130 bits for a 128-bit value: the first ten are exactly the 48-bit time.
    assert decoded == millis


def _freeze(monkeypatch: pytest.MonkeyPatch, time_ns: Callable[[], int]) -> None:
    """Give the ids module (only) a scripted clock."""
    monkeypatch.setattr(ids, "time", SimpleNamespace(time_ns=time_ns))


def _clock(start_ms: int, steps: int) -> Iterator[int]:
    """Yield nanosecond readings one millisecond apart."""
    for n in range(steps):
        yield (start_ms + n) * 1_000_000


def _sleep_past_this_millisecond() -> None:
    """Busy-wait until the millisecond clock ticks (sleep() may overshoot by a lot)."""
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:
        pass
