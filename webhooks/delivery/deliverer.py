"""Claim, throttle, send, record: one attempt of one delivery, as the worker's task runs it."""

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from webhooks.config import Settings
from webhooks.db import is_unavailable
from webhooks.delivery import held
from webhooks.delivery.headers import attempt_headers, recorded
from webhooks.delivery.ledger import Claim, make_ledger
from webhooks.delivery.outcome import AttemptError, AttemptRecord, Rules
from webhooks.delivery.queue import Dispatcher
from webhooks.delivery.sender import Sender
from webhooks.delivery.throttle import Limits, Slot, Throttle, Verdict
from webhooks.errors import Unavailable
from webhooks.models import PENDING
from webhooks.observability.attempts import AttemptHook, AttemptObserver
from webhooks.observability.tracing import inject_trace_context
from webhooks.security.sealing import Keyring
from webhooks.times import utcnow

log = logging.getLogger(__name__)

# How long a delivery waits when the throttle's Redis does not answer.
THROTTLE_UNAVAILABLE = Slot(Verdict.LATER, 2.0)


@dataclass(frozen=True)
class Again:
    """Run the task again after `countdown` seconds; `reserved`: it holds that rate instant."""

    countdown: float
    reserved: bool = False


class Deliverer:
    """Run attempts: one claiming UPDATE, one HTTP request, one write to record it."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        sender: Sender,
        throttle: Throttle,
        dispatcher: Dispatcher,
        clock: Callable[[], datetime] = utcnow,
        observe: AttemptHook | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sender = sender
        self.throttle = throttle
        self.dispatcher = dispatcher
        self.clock = clock
        self.observe = observe or AttemptObserver()
        self.rules = Rules.from_settings(settings)
        self.lines = held.Lines(engine, dispatcher, throttle)
        self.ledger = make_ledger(
            engine,
            lease=timedelta(seconds=settings.lease_seconds),
            rules=self.rules,
            keyring=Keyring.from_settings(settings),
        )

    def deliver(self, delivery_id: str, reserved: bool = False) -> Again | None:
        """Make one attempt if the delivery is due and its endpoint has room; say when to rerun.

        `reserved`: the delivery waited for an instant the rate limit reserved for it.
        """
        claim = self.ledger.claim(delivery_id, secrets.token_hex(16), self.clock())
        if claim is None:
            return None
        most = claim.max_in_flight or self.settings.max_in_flight_per_endpoint
        limits = Limits(claim.rate_limit, most)
        try:
            slot = self.throttle.acquire(claim.endpoint_id, limits, claim.token, reserved)
        except Unavailable as exc:
            log.warning("%s; %s waits", exc, delivery_id)
            slot = THROTTLE_UNAVAILABLE
        if slot.verdict is not Verdict.GO:
            return self.hold(claim, slot, limits)
        timed_out = False
        try:
            attempt, status = self.attempt(claim)
            timed_out = attempt.error == AttemptError.TIMEOUT
        finally:
            # Given back even when recording failed: the slot is for the request, now over.
            free = self.throttle.release(
                claim.endpoint_id, claim.token, timed_out=timed_out, most=most, rate=limits.rate
            )
        if free:
            self.hand_over(claim.endpoint_id, free, limits)
        if status == PENDING and attempt.next_attempt_at is not None and attempt.queued:
            return Again(max(0.0, (attempt.next_attempt_at - self.clock()).total_seconds()))
        return None

    def attempt(self, claim: Claim) -> tuple[AttemptRecord, str | None]:
        """Send the claimed delivery and record the attempt; return it and the new status."""
        started = self.clock()
        headers = attempt_headers(
            claim.secrets, claim.event_id, claim.payload, int(started.timestamp()), claim.headers
        )
        if claim.traceparent:
            inject_trace_context(headers)
        response = self.sender.send(claim.url, headers, claim.payload)
        attempt = self.rules.judge(claim.run_attempt, started, response, self.clock())
        if attempt.queued and attempt.error == AttemptError.TIMEOUT:
            attempt = self.park_behind_line(claim, attempt)
        attempt = replace(attempt, request_headers=recorded(headers, claim.headers))
        status = self.record(claim, attempt)
        self.observe(claim, attempt, status)
        return attempt, status

    def park_behind_line(self, claim: Claim, attempt: AttemptRecord) -> AttemptRecord:
        """Park a timed-out attempt's retry in SQL if deliveries are held behind its endpoint.

        A timeout halves the endpoint's slots: a countdown would only bring the retry back to
        be received, claimed and held behind the line, at a cost that adds up when many
        endpoints hang at once. The scheduler sends it when due, or holds it in the line.
        """
        if self.throttle.waiting([claim.endpoint_id]):
            return replace(attempt, queued=False)
        return attempt

    def hold(self, claim: Claim, slot: Slot, limits: Limits) -> Again | None:
        """Give the claim back without an attempt; wait on a countdown or held in SQL."""
        now = self.clock()
        waits = self.rules.hold(slot, now)
        self.ledger.hold(claim, waits)
        if not waits.in_sql:
            return Again(waits.countdown(now) or 0.0, reserved=waits.reserved)
        # The API holds the endpoint's new deliveries behind this one, in order, and the
        # worker freeing a slot hands it over...
        self.throttle.mark_waiting(claim.endpoint_id)
        if slot.verdict is Verdict.FULL:
            # ...unless that slot freed before the mark was there: then it is ours to hand.
            self.wake({claim.endpoint_id: limits})
        return None

    def hand_over(self, endpoint_id: str, free: int, limits: Limits) -> None:
        """Queue as many of the endpoint's held deliveries as it has free slots."""
        now = self.clock()
        if self.lines.hand_over(endpoint_id, free, now):
            self.wake({endpoint_id: limits})

    def wake(self, limits: dict[str, Limits]) -> None:
        """Hand over whatever room these endpoints have now."""
        self.lines.wake(limits, self.clock())

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
