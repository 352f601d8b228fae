"""The headers an attempt carries, and what the audit trail keeps of them: no secret."""

import json
from collections.abc import Iterable, Mapping

from webhooks.endpoint_headers import MASK
from webhooks.security.signing import webhook_headers

CONTENT_TYPE = "application/json"


def attempt_headers(
    secrets: Iterable[str],
    event_id: str,
    payload: bytes,
    timestamp: int,
    custom: Mapping[str, str],
) -> dict[str, str]:
    """The headers of one attempt: the endpoint's own, the content type, Standard Webhooks'."""
    # Receivers' frameworks only parse JSON bodies that say so.
    return {
        **custom,
        "content-type": CONTENT_TYPE,
        **webhook_headers(secrets, event_id, payload, timestamp),
    }


def recorded(sent: Mapping[str, str], custom: Mapping[str, str]) -> str:
    """What an attempt's audit row keeps of the headers it sent: custom values masked."""
    shown = {name: MASK if name in custom else value for name, value in sent.items()}
    return json.dumps(shown, separators=(",", ":"))


def read_recorded(stored: str | None) -> dict[str, str] | None:
    """The headers an audit row kept (None: an attempt lost with its worker)."""
    if stored is None:
        return None
    headers: dict[str, str] = json.loads(stored)
    return headers
