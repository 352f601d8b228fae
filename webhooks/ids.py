"""Opaque, time-sortable ids with a type prefix (`ep_`, `evt_`, `dlv_`, `att_`)."""

import base64
import os
import re
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
# base64's base32 alphabet to Crockford's: the C encoder then does the digits (an event to a
# thousand endpoints makes a thousand ids while its client waits).
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _CROCKFORD.encode())


def new_id(prefix: str) -> str:
    """Return `prefix_` + a ULID: 48 bits of milliseconds, then 80 bits, base32."""
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """`count` new ids, with one draw of randomness for all (a fan-out makes a thousand)."""
    random = os.urandom(9 * count)
    made = []
    for start in range(0, 9 * count, 9):
        millis, within = divmod(time.time_ns() // 1_000, 1_000)
        # The first 10 of the 80 bits hold the microsecond within the millisecond, so that
        # ids made in one millisecond still sort by creation; the other 70 are random.
        rest = within << 70 | int.from_bytes(random[start : start + 9], "big") >> 2
        made.append(f"{prefix}_{_base32(millis, rest)}")
    return made


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
    return f"{prefix}_{_base32(int(moment.timestamp() * 1000), 0)}"


def _base32(millis: int, rest: int) -> str:
    """26 digits: the 48 bits of time in 10 (of 16 for 80 bits, the first 6 zero), then 16."""
    digits = base64.b32encode(millis.to_bytes(10, "big"))[6:] + base64.b32encode(
        rest.to_bytes(10, "big")
    )
    # Fixed width and a sorted alphabet: ORDER BY id is creation order.
    return digits.translate(_TO_CROCKFORD).decode()


def id_pattern(prefix: str) -> str:
    """The regular expression of an id with this prefix (a ULID in lowercase base32)."""
    return rf"{prefix}_[0-9a-z]{{26}}"


def is_id(prefix: str, value: str) -> bool:
    """Whether `value` is shaped like an id of this type."""
    return re.fullmatch(id_pattern(prefix), value) is not None
