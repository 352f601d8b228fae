"""Claim, send, record: one attempt of one delivery, as the worker's task runs it."""

import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from webhooks.config import Settings
from webhooks.db import is_unavailable
from webhooks.ledger import AttemptRecord, Claim, make_ledger
from webhooks.models import FAILED, PENDING, SUCCEEDED
from webhooks.schedule import RetrySchedule, Verdict, classify, parse_retry_after
from webhooks.sender import Response, Sender
from webhooks.signing import webhook_headers
from webhooks.times import utcnow

log = logging.getLogger(__name__)


class Deliverer:
    """Run attempts: one claiming UPDATE, one HTTP request, one write to record it."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.schedule = RetrySchedule(settings.retry_schedule)
        self.ledger = make_ledger(
            engine,
            lease=timedelta(seconds=settings.lease_seconds),
            disable_after=timedelta(seconds=settings.disable_after_seconds),
            disable_after_failures=settings.disable_after_failures,
        )

    def deliver(self, delivery_id: str) -> float | None:
        """Make one attempt if the delivery is due; return a countdown to run again, or None."""
        claim = self.ledger.claim(delivery_id, secrets.token_hex(16), self.clock())
        if claim is None:
            return None
        started = self.clock()
        headers = {
            # API.md promises it, and receivers' frameworks only parse JSON bodies that say so.
            "content-type": "application/json",
            **webhook_headers(
                claim.secrets, claim.event_id, claim.payload, int(started.timestamp())
            ),
        }
        response = self.sender.send(claim.url, headers, claim.payload)
        attempt = self.judge(claim, started, response, self.clock())
        status = self.record(claim, attempt)
        if status == PENDING and attempt.next_attempt_at is not None and attempt.queued:
            return max(0.0, (attempt.next_attempt_at - self.clock()).total_seconds())
        return None

    def judge(
        self, claim: Claim, started: datetime, response: Response, now: datetime
    ) -> AttemptRecord:
        """Decide what an attempt's response means for the delivery and its endpoint."""
        verdict = classify(response.status_code, response.error)
        status, next_attempt_at = SUCCEEDED, None
        if verdict is Verdict.FAILED:
            status = FAILED
        elif verdict is Verdict.RETRY:
            status, next_attempt_at = self._next_attempt(claim, response, now)
        # Short waits ride Celery's countdown; long ones are parked for the scheduler, since
        # a countdown task sits unacknowledged in a worker's memory until it runs.
        queued = next_attempt_at is not None and (
            (next_attempt_at - now).total_seconds() <= self.settings.max_countdown_seconds
        )
        return AttemptRecord(
            started_at=started,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            response_body=response.body,
            error=response.error,
            outcome="success" if verdict is Verdict.SUCCEEDED else "failure",
            status=status,
            next_attempt_at=next_attempt_at,
            queued=queued,
        )

    def record(self, claim: Claim, attempt: AttemptRecord) -> str | None:
        """Record the attempt, waiting out a database outage while the lease lasts."""
        deadline = time.monotonic() + self.settings.lease_seconds / 2
        pause = 0.25
        while True:
            try:
                status = self.ledger.record(claim, attempt, self.clock())
                if status is None:
                    log.warning("lease on %s expired before its attempt ended", claim.delivery_id)
                return status
            except DBAPIError as exc:
                # The request went out: losing its record would send it again. Wait out a
                # database restart while the lease still protects the delivery.
                if not is_unavailable(exc):
                    raise
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("database unavailable recording %s; retrying", claim.delivery_id)
                time.sleep(pause)
                pause = min(pause * 2, 4.0)

    def _next_attempt(
        self, claim: Claim, response: Response, now: datetime
    ) -> tuple[str, datetime | None]:
        """When to try a retryable failure again, or FAILED once the schedule is spent."""
        retry_after = parse_retry_after(response.status_code, response.retry_after, now)
        delay = self.schedule.delay_after(claim.run_attempt, retry_after)
        if delay is None:
            return FAILED, None
        return PENDING, now + timedelta(seconds=delay)
