"""Claim, send, record: one attempt of one delivery, as the worker's task runs it."""

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, case, insert, literal, null, select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from webhooks import policy
from webhooks.config import Settings
from webhooks.ids import new_id
from webhooks.models import (
    CANCELLED,
    FAILED,
    PENDING,
    SUCCEEDED,
    Endpoint,
    Event,
    UTCDateTime,
)
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.schedule import RetrySchedule, Verdict, classify, parse_retry_after
from webhooks.sender import Response, Sender
from webhooks.signing import webhook_headers
from webhooks.times import utcnow

log = logging.getLogger(__name__)

WORKER_LOST = "worker_lost"
# Countdown tasks may run a little early on a worker whose clock runs ahead.
CLOCK_SKEW = timedelta(seconds=1)


@dataclass(frozen=True)
class Claim:
    """A delivery held by this attempt, with everything needed to send it."""

    delivery_id: str
    token: str
    number: int
    run_attempt: int
    event_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    payload: bytes
    failure_count: int


@dataclass(frozen=True)
class Result:
    """How one attempt ended and what happens next."""

    status: str
    next_attempt_at: datetime | None
    countdown: float | None


class Deliverer:
    """Run attempts: one claiming UPDATE, one HTTP request, one transaction to record it."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sender = sender
        self.clock = clock
        self.schedule = RetrySchedule(settings.retry_schedule)

    def deliver(self, delivery_id: str) -> float | None:
        """Make one attempt if the delivery is due; return a countdown to run again, or None."""
        claim = self.claim(delivery_id)
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
        return self.record(claim, started, response).countdown

    def claim(self, delivery_id: str) -> Claim | None:
        """Take the delivery if it is pending, due and unheld; None if another has it."""
        now = self.clock()
        token = secrets.token_hex(16)
        with self.engine.begin() as conn:
            held = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.status == PENDING,
                    deliveries.c.next_attempt_at <= now + CLOCK_SKEW,
                    deliveries.c.lease_expires_at.is_(None),
                )
                .values(
                    lease_token=token,
                    lease_expires_at=now + timedelta(seconds=self.settings.lease_seconds),
                    attempt_count=deliveries.c.attempt_count + 1,
                    updated_at=now,
                )
                .returning(
                    deliveries.c.attempt_count,
                    deliveries.c.run_start,
                    deliveries.c.event_id,
                    deliveries.c.endpoint_id,
                )
            ).one_or_none()
            if held is None:
                return None
            target = conn.execute(
                select(
                    Endpoint.url,
                    Endpoint.secret,
                    Endpoint.previous_secret,
                    Endpoint.previous_secret_expires_at,
                    Endpoint.enabled,
                    Endpoint.deleted_at,
                    Endpoint.failure_count,
                    Event.payload,
                )
                .select_from(Endpoint)
                .join(Event, Event.id == held.event_id)
                .where(Endpoint.id == held.endpoint_id)
            ).one()
            if not target.enabled or target.deleted_at is not None:
                # Disabled or deleted since this was queued: nothing may go out.
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id)
                    .values(
                        status=CANCELLED,
                        attempt_count=deliveries.c.attempt_count - 1,
                        lease_token=None,
                        lease_expires_at=None,
                        next_attempt_at=None,
                        queued_until=None,
                    )
                )
                return None
        signing_secrets = [target.secret]
        expires = target.previous_secret_expires_at
        if target.previous_secret and expires is not None and expires > now:
            signing_secrets.append(target.previous_secret)
        return Claim(
            delivery_id=delivery_id,
            token=token,
            number=held.attempt_count,
            run_attempt=held.attempt_count - held.run_start,
            event_id=held.event_id,
            endpoint_id=held.endpoint_id,
            url=target.url,
            secrets=tuple(signing_secrets),
            payload=bytes(target.payload),
            failure_count=target.failure_count,
        )

    def record(self, claim: Claim, started: datetime, response: Response) -> Result:
        """Write the attempt and the delivery's new state in one transaction, retrying outages."""
        deadline = time.monotonic() + self.settings.lease_seconds / 2
        pause = 0.25
        while True:
            try:
                return self._record(claim, started, response)
            except DBAPIError as exc:
                # The request went out: losing its record would re-send it. Wait out a
                # database restart while the lease still protects the delivery.
                if not (exc.connection_invalidated or _is_operational(exc)):
                    raise
                if time.monotonic() + pause > deadline:
                    raise
                log.warning("database unavailable recording %s; retrying", claim.delivery_id)
                time.sleep(pause)
                pause = min(pause * 2, 4.0)

    def _record(self, claim: Claim, started: datetime, response: Response) -> Result:
        now = self.clock()
        verdict = classify(response.status_code, response.error)
        result = self._next_step(claim, verdict, response, now)
        attempt = {
            "status_code": response.status_code,
            "response_body": response.body,
            "error": response.error,
            "duration_ms": response.duration_ms,
            "outcome": "success" if verdict is Verdict.SUCCEEDED else "failure",
        }
        with self.engine.begin() as conn:
            kept = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.id == claim.delivery_id, deliveries.c.lease_token == claim.token
                )
                .values(
                    **_new_state(result),
                    last_status_code=response.status_code,
                    lease_token=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(deliveries.c.status)
            ).one_or_none()
            if not kept:
                # The scheduler judged this attempt lost and wrote a placeholder for it;
                # the delivery has moved on, but the audit row can still tell the truth.
                log.warning("lease on %s expired before its attempt ended", claim.delivery_id)
                conn.execute(
                    update(attempts)
                    .where(
                        attempts.c.delivery_id == claim.delivery_id,
                        attempts.c.number == claim.number,
                        attempts.c.error == WORKER_LOST,
                    )
                    .values(**attempt)
                )
                return Result(result.status, None, None)
            conn.execute(
                insert(attempts).values(
                    id=new_id("att"),
                    delivery_id=claim.delivery_id,
                    endpoint_id=claim.endpoint_id,
                    number=claim.number,
                    started_at=started,
                    **attempt,
                )
            )
            disabled = self._apply_policy(conn, claim, verdict, response, now)
        if kept.status == CANCELLED or (disabled and result.status == PENDING):
            # Cancelled while in flight, or the endpoint was just disabled: no retry.
            return Result(CANCELLED, None, None)
        return result

    def _next_step(
        self, claim: Claim, verdict: Verdict, response: Response, now: datetime
    ) -> Result:
        if verdict is Verdict.SUCCEEDED:
            return Result(SUCCEEDED, None, None)
        if verdict is Verdict.FAILED:
            return Result(FAILED, None, None)
        retry_after = parse_retry_after(response.status_code, response.retry_after, now)
        delay = self.schedule.delay_after(claim.run_attempt, retry_after)
        if delay is None:
            return Result(FAILED, None, None)
        # Short waits ride Celery's countdown; long ones are parked for the scheduler, since
        # a countdown task sits unacknowledged in a worker's memory until it runs.
        countdown = delay if delay <= self.settings.max_countdown_seconds else None
        return Result(PENDING, now + timedelta(seconds=delay), countdown)

    def _apply_policy(
        self, conn: Connection, claim: Claim, verdict: Verdict, response: Response, now: datetime
    ) -> bool:
        """Update the endpoint's failure streak; True if the endpoint was just disabled."""
        if verdict is Verdict.SUCCEEDED:
            if claim.failure_count:
                policy.reset_streak(conn, claim.endpoint_id)
            return False
        if response.status_code == 410:
            policy.disable(conn, claim.endpoint_id, policy.GONE, now)
            return False
        return policy.record_failure(
            conn,
            claim.endpoint_id,
            now,
            disable_after=timedelta(seconds=self.settings.disable_after_seconds),
            disable_after_failures=self.settings.disable_after_failures,
        )


def _new_state(result: Result) -> dict[str, Any]:
    """The delivery's columns after an attempt, as SQL expressions."""
    if result.status != PENDING:
        return {"status": result.status, "next_attempt_at": None, "queued_until": None}
    # A retry never revives a delivery cancelled while its attempt was in flight (its
    # endpoint deleted or disabled meanwhile); a final outcome is recorded as it happened.
    cancelled = deliveries.c.status == CANCELLED
    due = literal(result.next_attempt_at, UTCDateTime())
    return {
        "status": case((cancelled, CANCELLED), else_=PENDING),
        "next_attempt_at": case((cancelled, null()), else_=due),
        # A countdown task is on its way; a parked retry waits for the scheduler.
        "queued_until": case((cancelled, null()), else_=due)
        if result.countdown is not None
        else null(),
    }


def _is_operational(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)
