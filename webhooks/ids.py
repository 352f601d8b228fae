"""Opaque, time-sortable ids with a type prefix (`ep_`, `evt_`, `dlv_`, `att_`)."""

import os
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id(prefix: str) -> str:
    """Return `prefix_` + a ULID: 48 bits of milliseconds then 80 random bits, base32."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        chars.append(_CROCKFORD[digit])
    # Fixed width and a sorted alphabet: ORDER BY id is creation order.
    return f"{prefix}_{''.join(reversed(chars))}"
