"""Retry schedule, jitter, and what each HTTP outcome means for a delivery."""

import enum
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


class Verdict(enum.Enum):
    """What an attempt's result means for its delivery."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"  # final failure, no retry (blocked address, 410 Gone)


@dataclass(frozen=True)
class RetrySchedule:
    """Seconds to wait after each failed attempt of a run; past the last step it has failed."""

    steps: tuple[float, ...]
    jitter: float = 0.1

    @property
    def longest(self) -> float:
        """Return the longest step, the cap for a receiver's Retry-After."""
        return max(self.steps, default=0.0)

    def delay_after(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Return seconds before the next attempt after failed `attempt` (1-based), or None."""
        if attempt < 1 or attempt > len(self.steps):
            return None
        base = self.steps[attempt - 1]
        spread = base * self.jitter
        delay = base + (rng or random).uniform(-spread, spread)
        if retry_after is not None:
            # Honour the receiver's wish, but never beyond the schedule's own longest wait.
            delay = max(delay, min(retry_after, self.longest))
        return delay


def classify(status_code: int | None, error: str | None) -> Verdict:
    """Map an attempt's outcome to a verdict (API.md, "What a receiver gets")."""
    if error == "blocked_address":
        return Verdict.FAILED
    if status_code is None or error is not None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.SUCCEEDED
    if status_code == 410:
        return Verdict.FAILED
    return Verdict.RETRY


def parse_retry_after(status_code: int | None, value: str | None, now: datetime) -> float | None:
    """Read Retry-After (seconds or an HTTP date) from a 429 or 503, else None."""
    if status_code not in (429, 503) or not value:
        return None
    value = value.strip()
    # ASCII digits only: str.isdigit() also passes "²", which float() then refuses, and
    # the header is the receiver's to write (http.client decodes it as latin-1).
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
