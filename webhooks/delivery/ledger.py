"""A delivery's rows: claim an attempt, record it, in as few round trips as the database allows."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from webhooks.delivery.outcome import AttemptRecord, Held, Rules
from webhooks.delivery.statements import (
    CLAIM,
    CLAIM_WITH_TARGET,
    FILL_PLACEHOLDER,
    FINISH,
    HOLD,
    HOLD_RETURNING,
    INSERT_ATTEMPT,
    RECORD_RETRY,
    RECORD_SUCCESS,
    RELEASE_UNSENDABLE,
    RETRY,
    TARGET,
    bind,
)
from webhooks.delivery.streak import DisabledReason, disable
from webhooks.driver import DriverStatement
from webhooks.endpoint_headers import decode_headers
from webhooks.ids import new_id
from webhooks.models import CANCELLED, FAILED, PENDING, SUCCEEDED
from webhooks.operations import deliveries_failed, failure_reason
from webhooks.security.sealing import Keyring

# Countdown tasks may run a little early on a worker whose clock runs ahead, and a worker
# handing over a held line may read its clock a moment before the one that held it did.
CLOCK_SKEW = timedelta(seconds=1)


@dataclass(frozen=True)
class Claim:
    """A delivery held by one attempt, with everything needed to send it."""

    delivery_id: str
    token: str
    number: int
    run_attempt: int
    event_id: str
    endpoint_id: str
    url: str
    secrets: tuple[str, ...]
    payload: bytes
    tenant: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)  # the endpoint's custom headers
    traceparent: bool = False  # the endpoint wants the attempt's trace context
    rate_limit: int | None = None  # the endpoint's limits, as they stand at the claim
    max_in_flight: int | None = None


class Ledger:
    """Claims and records on any database: two short transactions per attempt."""

    def __init__(self, engine: Engine, *, lease: timedelta, rules: Rules, keyring: Keyring) -> None:
        self.engine = engine
        self.lease = lease
        self.rules = rules
        self.keyring = keyring

    def claim(self, delivery_id: str, token: str, now: datetime) -> Claim | None:
        """Take the delivery if it is pending, due and unheld; None if another has it."""
        with self.engine.begin() as conn:
            held = conn.execute(CLAIM, self._claim_params(delivery_id, token, now)).one_or_none()
            if held is None:
                return None
            target = conn.execute(
                TARGET, bind(event_id=held.event_id, endpoint_id=held.endpoint_id)
            ).one()
            return self._checked(conn, delivery_id, token, held, target, now)

    def record(self, claim: Claim, attempt: AttemptRecord, now: datetime) -> str | None:
        """Write the attempt and the delivery's new state at once; return that state.

        None if the lease was lost meanwhile (the scheduler took the attempt for dead).
        """
        with self.engine.begin() as conn:
            kept = conn.execute(*_state_change(claim, attempt, now)).one_or_none()
            if kept is None:
                conn.execute(FILL_PLACEHOLDER, _attempt_params(claim, attempt))
                return None
            conn.execute(INSERT_ATTEMPT, _attempt_params(claim, attempt))
            if kept.status == FAILED:
                reason = failure_reason(attempt.error, attempt.status_code)
                ops = self.rules.operations_tenant
                deliveries_failed(conn, ops, [claim.delivery_id], reason, now)
            disabled = self.rules.apply_streak(conn, claim.endpoint_id, attempt.streak, now)
        if disabled and kept.status == PENDING:
            return CANCELLED  # the endpoint was just disabled, its pending deliveries with it
        return str(kept.status)

    def hold(self, claim: Claim, held: Held) -> None:
        """Undo the claim: no attempt was made, and the delivery waits as `held` says."""
        with self.engine.begin() as conn:
            conn.execute(HOLD, _hold_params(claim, held))

    def _claim_params(self, delivery_id: str, token: str, now: datetime) -> dict[str, Any]:
        return bind(
            delivery_id=delivery_id,
            due_by=now + CLOCK_SKEW,
            token=token,
            lease_until=now + self.lease,
            claimed_at=now,
        )

    def _checked(
        self,
        conn: Connection | None,
        delivery_id: str,
        token: str,
        held: Any,
        target: Any,
        now: datetime,
    ) -> Claim | None:
        """Build the claim, or let go of it when the endpoint may no longer be sent to."""
        if not target.enabled or target.deleted_at is not None:
            # Disabled or deleted since this was queued: nothing may go out.
            if conn is None:
                with self.engine.begin() as own:
                    own.execute(RELEASE_UNSENDABLE, bind(delivery_id=delivery_id))
            else:
                conn.execute(RELEASE_UNSENDABLE, bind(delivery_id=delivery_id))
            return None
        # Sealed at rest; the keyring caches what it unsealed, so a claim rarely decrypts.
        unseal = self.keyring.unseal
        secrets = [unseal(target.secret)]
        expires = target.previous_secret_expires_at
        if target.previous_secret and expires is not None and expires > now:
            secrets.append(unseal(target.previous_secret))
        return Claim(
            delivery_id=delivery_id,
            token=token,
            number=held.attempt_count,
            run_attempt=held.attempt_count - held.run_start,
            event_id=held.event_id,
            endpoint_id=held.endpoint_id,
            url=target.url if target.sealed_url is None else unseal(target.sealed_url),
            secrets=tuple(secrets),
            payload=bytes(target.payload),
            tenant=held.tenant,
            headers=decode_headers(target.headers, self.keyring),
            traceparent=target.send_traceparent,
            rate_limit=target.rate_limit,
            max_in_flight=target.max_in_flight,
        )


class PostgresLedger(Ledger):
    """One statement, in autocommit, for every claim, every plain success and every retry.

    They run through the driver (webhooks/driver.py): they are the worker's two statements
    per attempt, and SQLAlchemy's execution cost more Python than psycopg's.
    """

    def __init__(self, engine: Engine, *, lease: timedelta, rules: Rules, keyring: Keyring) -> None:
        super().__init__(engine, lease=lease, rules=rules, keyring=keyring)
        self.claim_with_target = DriverStatement(engine, CLAIM_WITH_TARGET)
        self.record_success = DriverStatement(engine, RECORD_SUCCESS)
        self.record_retry = DriverStatement(engine, RECORD_RETRY)
        # A throttled endpoint's deliveries are each held once before they are sent.
        self.hold_claim = DriverStatement(engine, HOLD_RETURNING)

    def claim(self, delivery_id: str, token: str, now: datetime) -> Claim | None:
        row = self.claim_with_target.one_or_none(self._claim_params(delivery_id, token, now))
        if row is None:
            return None
        return self._checked(None, delivery_id, token, row, row, now)

    def hold(self, claim: Claim, held: Held) -> None:
        self.hold_claim.one_or_none(_hold_params(claim, held))

    def record(self, claim: Claim, attempt: AttemptRecord, now: datetime) -> str | None:
        if attempt.status == SUCCEEDED:
            kept = self._record(self.record_success, claim, attempt, now)
            return None if kept is None else str(kept.status)
        if attempt.status == PENDING and attempt.streak == "fail":
            return self._record_retry(claim, attempt, now)
        # A final failure or a 410: what they do to the endpoint needs a transaction.
        return super().record(claim, attempt, now)

    def _record_retry(self, claim: Claim, attempt: AttemptRecord, now: datetime) -> str | None:
        kept = self._record(self.record_retry, claim, attempt, now)
        if kept is None or not self.rules.streak_disables(kept, now):
            return None if kept is None else str(kept.status)
        # Rare, and in a transaction of its own: if the worker dies first, the endpoint's
        # next failure finds the streak as long and disables it then.
        with self.engine.begin() as conn:
            disable(
                conn, claim.endpoint_id, DisabledReason.FAILING, now, self.rules.operations_tenant
            )
        return CANCELLED if kept.status == PENDING else str(kept.status)

    def _record(
        self, statement: DriverStatement, claim: Claim, attempt: AttemptRecord, now: datetime
    ) -> Any | None:
        """Run a one-statement record; None, with the placeholder filled, if the lease was lost."""
        _, change = _state_change(claim, attempt, now)
        params = {**_attempt_params(claim, attempt), **change}
        kept = statement.one_or_none(params)
        if kept is None:
            # The lease was lost; the scheduler's placeholder can still tell the truth.
            with self.engine.begin() as conn:
                conn.execute(FILL_PLACEHOLDER, params)
        return kept


def make_ledger(engine: Engine, *, lease: timedelta, rules: Rules, keyring: Keyring) -> Ledger:
    """The fastest ledger the database supports."""
    kind = PostgresLedger if engine.dialect.name == "postgresql" else Ledger
    return kind(engine, lease=lease, rules=rules, keyring=keyring)


def _state_change(claim: Claim, attempt: AttemptRecord, now: datetime) -> tuple[Any, ...]:
    params = bind(
        delivery_id=claim.delivery_id,
        token=claim.token,
        status_code=attempt.status_code,
        recorded_at=now,
    )
    if attempt.status != PENDING:
        return FINISH, {**params, **bind(new_status=attempt.status)}
    queued_until = attempt.next_attempt_at if attempt.queued else None
    return RETRY, {
        **params,
        **bind(next_attempt_at=attempt.next_attempt_at, queued_until=queued_until),
    }


def _hold_params(claim: Claim, held: Held) -> dict[str, Any]:
    return bind(
        delivery_id=claim.delivery_id,
        token=claim.token,
        next_attempt_at=held.next_attempt_at,
        queued_until=None if held.in_sql else held.next_attempt_at,
        held=held.in_sql,
    )


def _attempt_params(claim: Claim, attempt: AttemptRecord) -> dict[str, Any]:
    return bind(
        attempt_id=new_id("att"),
        delivery_id=claim.delivery_id,
        endpoint_id=claim.endpoint_id,
        number=claim.number,
        started_at=attempt.started_at,
        duration_ms=attempt.duration_ms,
        status_code=attempt.status_code,
        response_body=attempt.response_body,
        error=attempt.error,
        outcome=attempt.outcome,
        request_headers=attempt.request_headers,
    )
