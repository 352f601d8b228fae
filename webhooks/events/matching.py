"""Event types and the filters endpoints subscribe with (`invoice.paid`, `invoice.*`)."""

import re
from collections.abc import Sequence

EVENT_TYPE = re.compile(r"[A-Za-z0-9_.\-]{1,128}")


def is_event_type(value: str) -> bool:
    """Return whether `value` is a valid event type."""
    return EVENT_TYPE.fullmatch(value) is not None


def is_filter(value: str) -> bool:
    """Return whether `value` is an exact type or a `prefix.*` wildcard."""
    if value.endswith(".*"):
        return is_event_type(value[:-2])
    return is_event_type(value)


def matches(filters: Sequence[str], event_type: str) -> bool:
    """Return whether an endpoint with `filters` wants `event_type` (empty = every type)."""
    if not filters:
        return True
    for pattern in filters:
        if pattern.endswith(".*"):
            if event_type.startswith(pattern[:-1]):
                return True
        elif pattern == event_type:
            return True
    return False
