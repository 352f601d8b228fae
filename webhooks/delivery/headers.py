"""The headers an attempt carries, and the same headers as the console shows them: no secret."""

from collections.abc import Iterable
from datetime import datetime

from webhooks import USER_AGENT
from webhooks.security.signing import webhook_headers

CONTENT_TYPE = "application/json"
SIGNATURE_SHOWN = "v1,… (an HMAC-SHA256 keyed with the endpoint's secret; not kept)"


def attempt_headers(
    secrets: Iterable[str], event_id: str, payload: bytes, timestamp: int
) -> dict[str, str]:
    """The headers of one attempt: the content type and the three Standard Webhooks headers."""
    # Receivers' frameworks only parse JSON bodies that say so.
    return {"content-type": CONTENT_TYPE, **webhook_headers(secrets, event_id, payload, timestamp)}


def shown_headers(event_id: str, started_at: datetime) -> list[tuple[str, str]]:
    """What an attempt that started at `started_at` sent, the signature left out."""
    sent = attempt_headers((), event_id, b"", int(started_at.timestamp()))
    sent["webhook-signature"] = SIGNATURE_SHOWN
    return [*sent.items(), ("user-agent", USER_AGENT)]
