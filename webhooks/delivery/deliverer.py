"""Claim, send, record: one attempt of one delivery, as the worker's task runs it."""

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from webhooks.config import Settings
from webhooks.db import is_unavailable
from webhooks.delivery.headers import attempt_headers, recorded
from webhooks.delivery.ledger import Claim, make_ledger
from webhooks.delivery.outcome import AttemptRecord, Rules
from webhooks.delivery.sender import Sender
from webhooks.models import PENDING
from webhooks.observability.attempts import AttemptHook, AttemptObserver
from webhooks.observability.tracing import inject_trace_context
from webhooks.security.sealing import Keyring
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
        observe: AttemptHook | None = None,
    ) -> None:
        self.settings = settings
        self.sender = sender
        self.clock = clock
        self.observe = observe or AttemptObserver()
        self.rules = Rules.from_settings(settings)
        self.ledger = make_ledger(
            engine,
            lease=timedelta(seconds=settings.lease_seconds),
            rules=self.rules,
            keyring=Keyring.from_settings(settings),
        )

    def deliver(self, delivery_id: str) -> float | None:
        """Make one attempt if the delivery is due; return a countdown to run again, or None."""
        claim = self.ledger.claim(delivery_id, secrets.token_hex(16), self.clock())
        if claim is None:
            return None
        started = self.clock()
        headers = attempt_headers(
            claim.secrets, claim.event_id, claim.payload, int(started.timestamp()), claim.headers
        )
        if claim.traceparent:
            inject_trace_context(headers)
        response = self.sender.send(claim.url, headers, claim.payload)
        attempt = self.rules.judge(claim.run_attempt, started, response, self.clock())
        attempt = replace(attempt, request_headers=recorded(headers, claim.headers))
        status = self.record(claim, attempt)
        self.observe(claim, attempt, status)
        if status == PENDING and attempt.next_attempt_at is not None and attempt.queued:
            return max(0.0, (attempt.next_attempt_at - self.clock()).total_seconds())
        return None

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
