"""What happens after an attempt: its verdict, when the next one goes, what it does to the endpoint.

Every rule that follows an attempt lives here: how an HTTP outcome is classified, the retry
schedule and its jitter, a receiver's Retry-After, whether the wait rides a countdown or is
parked in SQL, where a delivery its endpoint's throttle held back waits, when a run of the
schedule is spent, and the failure streak that disables an endpoint (410 Gone at once, a long
streak of failures eventually). The streak's statements, and disabling an endpoint, are
webhooks/delivery/streak.py; how the throttle counts is webhooks/delivery/throttle.py.
"""

import enum
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, literal

from webhooks.config import Settings
from webhooks.delivery import throttle
from webhooks.delivery.streak import DisabledReason, count_failure, disable, end_streak
from webhooks.models import FAILED, PENDING, SUCCEEDED, UTCDateTime


class AttemptError(enum.StrEnum):
    """Why an attempt got no usable answer, as the audit table names it."""

    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    TLS_ERROR = "tls_error"
    DNS_ERROR = "dns_error"
    INVALID_RESPONSE = "invalid_response"
    REDIRECT_NOT_FOLLOWED = "redirect_not_followed"
    BLOCKED_ADDRESS = "blocked_address"
    WORKER_LOST = "worker_lost"


class Verdict(enum.Enum):
    """What an attempt's result means for its delivery."""

    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"  # final failure, no retry (blocked address, 410 Gone)


Outcome = Literal["success", "failure"]
Streak = Literal["reset", "fail", "gone"]


def classify(status_code: int | None, error: str | None) -> Verdict:
    """Map an attempt's result to a verdict."""
    if error == AttemptError.BLOCKED_ADDRESS:
        return Verdict.FAILED
    if status_code is None or error is not None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.SUCCEEDED
    if status_code == 410:
        return Verdict.FAILED
    return Verdict.RETRY


@dataclass(frozen=True)
class RetrySchedule:
    """Seconds to wait after each failed attempt of a run; past the last step it has failed."""

    steps: tuple[float, ...]
    jitter: float = 0.1

    @property
    def longest(self) -> float:
        """Return the longest step, the cap for a receiver's Retry-After."""
        return max(self.steps, default=0.0)

    def spent(self, run_attempt: int) -> bool:
        """Whether attempt `run_attempt` (1-based) of a run was its last."""
        return run_attempt > len(self.steps)

    def delay_after(
        self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float | None:
        """Return seconds before the next attempt after failed `attempt` (1-based), or None."""
        if attempt < 1 or self.spent(attempt):
            return None
        base = self.steps[attempt - 1]
        spread = base * self.jitter
        delay = base + (rng or random).uniform(-spread, spread)
        if retry_after is not None:
            # Honour the receiver's wish, but never beyond the schedule's own longest wait.
            delay = max(delay, min(retry_after, self.longest))
        return delay


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


class Reply(Protocol):
    """What the sender got back from one attempt."""

    @property
    def status_code(self) -> int | None: ...
    @property
    def body(self) -> str | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def retry_after(self) -> str | None: ...


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt and the delivery's state after it."""

    started_at: datetime
    duration_ms: float
    status_code: int | None
    response_body: str | None
    error: str | None
    outcome: Outcome
    status: str
    next_attempt_at: datetime | None
    queued: bool  # a countdown task is on its way to make the next attempt
    request_headers: str | None = None  # what was sent, as JSON (custom values masked)

    @property
    def streak(self) -> Streak:
        """What the attempt does to the endpoint's failure streak."""
        if self.outcome == "success":
            return "reset"  # a write only when there is a streak to end
        return "gone" if self.status_code == 410 else "fail"


@dataclass(frozen=True)
class Held:
    """A delivery held back by its endpoint's throttle: no attempt, and a time to try again."""

    next_attempt_at: datetime
    in_sql: bool  # waits in SQL for its endpoint; else rides a countdown to next_attempt_at
    reserved: bool  # holds that instant of the rate limit already

    def countdown(self, now: datetime) -> float | None:
        """Seconds to the countdown the task runs again after; None when held in SQL."""
        return None if self.in_sql else max(0.0, (self.next_attempt_at - now).total_seconds())


@dataclass(frozen=True)
class Rules:
    """The operator's settings that decide what follows an attempt."""

    schedule: RetrySchedule
    max_countdown: timedelta
    disable_after: timedelta
    disable_after_failures: int
    operations_tenant: str = "_operations"  # where operational events go

    @classmethod
    def from_settings(cls, settings: Settings) -> "Rules":
        """The rules the operator configured."""
        return cls(
            schedule=RetrySchedule(settings.retry_schedule),
            max_countdown=timedelta(seconds=settings.max_countdown_seconds),
            disable_after=timedelta(seconds=settings.disable_after_seconds),
            disable_after_failures=settings.disable_after_failures,
            operations_tenant=settings.operations_tenant,
        )

    def judge(
        self, run_attempt: int, started: datetime, response: Reply, now: datetime
    ) -> AttemptRecord:
        """Decide what an attempt's response means for the delivery."""
        verdict = classify(response.status_code, response.error)
        status, next_attempt_at = SUCCEEDED, None
        if verdict is Verdict.FAILED:
            status = FAILED
        elif verdict is Verdict.RETRY:
            retry_after = parse_retry_after(response.status_code, response.retry_after, now)
            delay = self.schedule.delay_after(run_attempt, retry_after)
            if delay is None:
                status = FAILED
            else:
                status, next_attempt_at = PENDING, now + timedelta(seconds=delay)
        return AttemptRecord(
            started_at=started,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            response_body=response.body,
            error=response.error,
            outcome="success" if verdict is Verdict.SUCCEEDED else "failure",
            status=status,
            next_attempt_at=next_attempt_at,
            queued=next_attempt_at is not None and self.rides_countdown(next_attempt_at - now),
        )

    def rides_countdown(self, wait: timedelta) -> bool:
        """Whether a wait rides Celery's countdown rather than being parked in SQL.

        A countdown task sits unacknowledged in a worker's memory until it runs: only short
        waits may; long ones are parked (`next_attempt_at`) for the requeuer.
        """
        return wait <= self.max_countdown

    def hold(self, slot: throttle.Slot, now: datetime) -> Held:
        """Where a delivery the throttle held back waits: a countdown, or SQL."""
        wait = timedelta(seconds=slot.wait_seconds)
        if slot.verdict is throttle.Verdict.RESERVED and self.rides_countdown(wait):
            return Held(now + wait, in_sql=False, reserved=True)
        # Every slot in use, or the rate's instants all taken: held in SQL, due at once, and
        # released as the endpoint has room (a slot frees, an instant enters the horizon), by
        # the worker that finishes an attempt there or by the scheduler.
        return Held(now, in_sql=True, reserved=False)

    def status_after_lost(self, status: str, run_attempt: int) -> str:
        """A delivery's status once an attempt lost with its worker is counted."""
        if status != PENDING:
            return status  # cancelled while in flight: it stays so
        # The attempt may or may not have gone out: send again at once, but count it, so
        # that a delivery that kills its worker every time still ends.
        return FAILED if self.schedule.spent(run_attempt) else PENDING

    def apply_streak(
        self, conn: Connection, endpoint_id: str, streak: Streak, now: datetime
    ) -> bool:
        """Update the endpoint's failure streak; True if that disabled the endpoint."""
        if streak == "reset":
            conn.execute(end_streak(endpoint_id))
        elif streak == "gone":
            disable(conn, endpoint_id, DisabledReason.GONE, now, self.operations_tenant)
        else:
            return self._count_failure(conn, endpoint_id, now)
        return False

    def _count_failure(self, conn: Connection, endpoint_id: str, now: datetime) -> bool:
        streak = conn.execute(count_failure(endpoint_id, literal(now, UTCDateTime()))).one()
        if self.streak_disables(streak, now):
            disable(conn, endpoint_id, DisabledReason.FAILING, now, self.operations_tenant)
            return True
        return False

    def streak_disables(self, streak: Any, now: datetime) -> bool:
        """Whether a failure streak (`count_failure`'s row) is long and old enough to disable
        its endpoint, still enabled."""
        return bool(
            streak.enabled
            and streak.failure_count >= self.disable_after_failures
            and now - streak.failing_since >= self.disable_after
        )
