"""Opaque, time-sortable ids with a type prefix (`ep_`, `evt_`, `dlv_`, `att_`)."""

import os
import re
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """Return `prefix_` + a ULID: 48 bits of milliseconds, then 80 bits, base32."""
    micros = time.time_ns() // 1_000
    millis, within = divmod(micros, 1_000)
    # The first 10 of the 80 bits hold the microsecond within the millisecond, so that ids
    # made in one millisecond still sort by creation; the other 70 are random.
    value = millis << 80 | within << 70 | int.from_bytes(os.urandom(9), "big") >> 2
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    # Fixed width and a sorted alphabet: ORDER BY id is creation order.
    return f"{prefix}_{''.join(reversed(chars))}"


def id_time(value: str) -> datetime:
    """When an id was made, to the millisecond (its first 48 bits)."""
    encoded = value.rpartition("_")[2]
    number = 0
    for char in encoded[:10]:
        number = number * 32 + _CROCKFORD.index(char)
    # 26 characters hold 130 bits for 128: the first 10 are two zero bits, then the 48 of time.
    return datetime.fromtimestamp(number / 1000, UTC)


def id_at(prefix: str, moment: datetime) -> str:
    """The smallest id of this type made at `moment`: ids sort by time, so times filter by id."""
    value = int(moment.timestamp() * 1000) << 80
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    return f"{prefix}_{''.join(reversed(chars))}"


def id_pattern(prefix: str) -> str:
    """The regular expression of an id with this prefix (a ULID in lowercase base32)."""
    return rf"{prefix}_[0-9a-z]{{26}}"


def is_id(prefix: str, value: str) -> bool:
    """Whether `value` is shaped like an id of this type."""
    return re.fullmatch(id_pattern(prefix), value) is not None
