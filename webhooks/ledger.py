"""A delivery's rows: claim an attempt, record it, in as few round trips as the database allows."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    case,
    insert,
    null,
    select,
    update,
)

from webhooks import policy
from webhooks.ids import new_id
from webhooks.models import CANCELLED, PENDING, SUCCEEDED, UTCDateTime
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints
from webhooks.models import events_table as events

WORKER_LOST = "worker_lost"
# Countdown tasks may run a little early on a worker whose clock runs ahead.
CLOCK_SKEW = timedelta(seconds=1)

Streak = Literal["reset", "fail", "gone"]


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


@dataclass(frozen=True)
class AttemptRecord:
    """One finished attempt and the delivery's state after it."""

    started_at: datetime
    duration_ms: float
    status_code: int | None
    response_body: str | None
    error: str | None
    outcome: Literal["success", "failure"]
    status: str
    next_attempt_at: datetime | None
    queued: bool  # a countdown task is on its way to make the next attempt
    streak: Streak  # what the attempt does to the endpoint's failure streak


def _time(name: str) -> Any:
    return bindparam(f"p_{name}", type_=UTCDateTime())


# Statements are built once, with bind parameters: building them per attempt costs more CPU
# than the database spends running them.
_DUE = (
    deliveries.c.id == bindparam("p_delivery_id", type_=String()),
    deliveries.c.status == PENDING,
    deliveries.c.next_attempt_at <= _time("due_by"),
    deliveries.c.lease_expires_at.is_(None),
)
_TAKE = {
    "lease_token": bindparam("p_token", type_=String()),
    "lease_expires_at": _time("lease_until"),
    "attempt_count": deliveries.c.attempt_count + 1,
    "updated_at": _time("claimed_at"),
}
_HELD = (
    deliveries.c.attempt_count,
    deliveries.c.run_start,
    deliveries.c.event_id,
    deliveries.c.endpoint_id,
)
_TARGET = (
    endpoints.c.url,
    endpoints.c.secret,
    endpoints.c.previous_secret,
    endpoints.c.previous_secret_expires_at,
    endpoints.c.enabled,
    endpoints.c.deleted_at,
    events.c.payload,
)
CLAIM = update(deliveries).where(*_DUE).values(**_TAKE).returning(*_HELD)
TARGET = (
    select(*_TARGET)
    .select_from(endpoints)
    .join(events, events.c.id == bindparam("p_event_id", type_=String()))
    .where(endpoints.c.id == bindparam("p_endpoint_id", type_=String()))
)
RELEASE_UNSENDABLE = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("p_delivery_id", type_=String()))
    .values(
        status=CANCELLED,
        attempt_count=deliveries.c.attempt_count - 1,
        lease_token=None,
        lease_expires_at=None,
        next_attempt_at=None,
        queued_until=None,
    )
)
_HOLDER = (
    deliveries.c.id == bindparam("p_delivery_id", type_=String()),
    deliveries.c.lease_token == bindparam("p_token", type_=String()),
)
_AFTER = {
    "last_status_code": bindparam("p_status_code", type_=Integer()),
    "lease_token": None,
    "lease_expires_at": None,
    "updated_at": _time("recorded_at"),
}
_CANCELLED = deliveries.c.status == CANCELLED
FINISH = (
    update(deliveries)
    .where(*_HOLDER)
    .values(
        status=bindparam("p_new_status", type_=String()),
        next_attempt_at=None,
        queued_until=None,
        **_AFTER,
    )
    .returning(deliveries.c.status, deliveries.c.endpoint_id)
)
# A retry never revives a delivery cancelled while its attempt was in flight (endpoint
# deleted or disabled meanwhile); a final outcome above is recorded as it happened.
RETRY = (
    update(deliveries)
    .where(*_HOLDER)
    .values(
        status=case((_CANCELLED, CANCELLED), else_=PENDING),
        next_attempt_at=case((_CANCELLED, null()), else_=_time("next_attempt_at")),
        queued_until=case((_CANCELLED, null()), else_=_time("queued_until")),
        **_AFTER,
    )
    .returning(deliveries.c.status)
)
_ATTEMPT_COLUMNS = (
    "id",
    "delivery_id",
    "endpoint_id",
    "number",
    "started_at",
    "duration_ms",
    "status_code",
    "response_body",
    "error",
    "outcome",
)
_ATTEMPT_VALUES = {
    "id": bindparam("p_attempt_id", type_=String()),
    "delivery_id": bindparam("p_delivery_id", type_=String()),
    "endpoint_id": bindparam("p_endpoint_id", type_=String()),
    "number": bindparam("p_number", type_=Integer()),
    "started_at": _time("started_at"),
    "duration_ms": bindparam("p_duration_ms", type_=Float()),
    "status_code": bindparam("p_status_code", type_=Integer()),
    "response_body": bindparam("p_response_body", type_=Text()),
    "error": bindparam("p_error", type_=String()),
    "outcome": bindparam("p_outcome", type_=String()),
}
INSERT_ATTEMPT = insert(attempts).values(**_ATTEMPT_VALUES)
FILL_PLACEHOLDER = (
    update(attempts)
    .where(
        attempts.c.delivery_id == bindparam("p_delivery_id", type_=String()),
        attempts.c.number == bindparam("p_number", type_=Integer()),
        attempts.c.error == WORKER_LOST,
    )
    .values(
        duration_ms=bindparam("p_duration_ms", type_=Float()),
        status_code=bindparam("p_status_code", type_=Integer()),
        response_body=bindparam("p_response_body", type_=Text()),
        error=bindparam("p_error", type_=String()),
        outcome=bindparam("p_outcome", type_=String()),
    )
)


class Ledger:
    """Claims and records on any database: two short transactions per attempt."""

    def __init__(
        self,
        engine: Engine,
        *,
        lease: timedelta,
        disable_after: timedelta,
        disable_after_failures: int,
    ) -> None:
        self.engine = engine
        self.lease = lease
        self.disable_after = disable_after
        self.disable_after_failures = disable_after_failures

    def claim(self, delivery_id: str, token: str, now: datetime) -> Claim | None:
        """Take the delivery if it is pending, due and unheld; None if another has it."""
        with self.engine.begin() as conn:
            held = conn.execute(CLAIM, self._claim_params(delivery_id, token, now)).one_or_none()
            if held is None:
                return None
            target = conn.execute(
                TARGET, _params(event_id=held.event_id, endpoint_id=held.endpoint_id)
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
            disabled = self._apply_streak(conn, claim, attempt, now)
        if disabled and kept.status == PENDING:
            return CANCELLED  # the endpoint was just disabled, its pending deliveries with it
        return str(kept.status)

    def _claim_params(self, delivery_id: str, token: str, now: datetime) -> dict[str, Any]:
        return _params(
            delivery_id=delivery_id,
            due_by=now + CLOCK_SKEW,
            token=token,
            lease_until=now + self.lease,
            claimed_at=now,
        )

    def _checked(
        self,
        conn: Connection,
        delivery_id: str,
        token: str,
        held: Any,
        target: Any,
        now: datetime,
    ) -> Claim | None:
        """Build the claim, or let go of it when the endpoint may no longer be sent to."""
        if not target.enabled or target.deleted_at is not None:
            # Disabled or deleted since this was queued: nothing may go out.
            conn.execute(RELEASE_UNSENDABLE, _params(delivery_id=delivery_id))
            return None
        secrets = [target.secret]
        expires = target.previous_secret_expires_at
        if target.previous_secret and expires is not None and expires > now:
            secrets.append(target.previous_secret)
        return Claim(
            delivery_id=delivery_id,
            token=token,
            number=held.attempt_count,
            run_attempt=held.attempt_count - held.run_start,
            event_id=held.event_id,
            endpoint_id=held.endpoint_id,
            url=target.url,
            secrets=tuple(secrets),
            payload=bytes(target.payload),
        )

    def _apply_streak(
        self, conn: Connection, claim: Claim, attempt: AttemptRecord, now: datetime
    ) -> bool:
        """Update the endpoint's failure streak; True if that disabled the endpoint."""
        if attempt.streak == "reset":
            policy.reset_streak(conn, claim.endpoint_id)
        elif attempt.streak == "gone":
            policy.disable(conn, claim.endpoint_id, policy.GONE, now)
        elif attempt.streak == "fail":
            return policy.record_failure(
                conn,
                claim.endpoint_id,
                now,
                disable_after=self.disable_after,
                disable_after_failures=self.disable_after_failures,
            )
        return False


class PostgresLedger(Ledger):
    """One statement, in autocommit, for every claim and for every plain success."""

    def __init__(self, engine: Engine, **policy_settings: Any) -> None:
        super().__init__(engine, **policy_settings)
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    def claim(self, delivery_id: str, token: str, now: datetime) -> Claim | None:
        with self.autocommit.connect() as conn:
            row = conn.execute(
                CLAIM_WITH_TARGET, self._claim_params(delivery_id, token, now)
            ).one_or_none()
            if row is None:
                return None
            return self._checked(conn, delivery_id, token, row, row, now)

    def record(self, claim: Claim, attempt: AttemptRecord, now: datetime) -> str | None:
        if attempt.status != SUCCEEDED:
            return super().record(claim, attempt, now)  # failures: the streak needs a txn
        params = {
            **_attempt_params(claim, attempt),
            **_params(token=claim.token, new_status=SUCCEEDED, recorded_at=now),
        }
        with self.autocommit.connect() as conn:
            kept = conn.execute(RECORD_SUCCESS, params).one_or_none()
        if kept is None:
            # The lease was lost; the scheduler's placeholder can still tell the truth.
            with self.engine.begin() as conn:
                conn.execute(FILL_PLACEHOLDER, params)
            return None
        return str(kept.status)


# PostgreSQL can join in an UPDATE and return the joined columns: the claim and what to
# send in one round trip.
CLAIM_WITH_TARGET = (
    update(deliveries)
    .where(
        *_DUE,
        endpoints.c.id == deliveries.c.endpoint_id,
        events.c.id == deliveries.c.event_id,
    )
    .values(**_TAKE)
    .returning(*_HELD, *_TARGET)
)
# ...and change the delivery, insert its attempt and end the endpoint's failure streak (a
# write only when there is one) in one statement, atomically.
_FINISHED = FINISH.cte("finished")
RECORD_SUCCESS = select(_FINISHED.c.status).add_cte(
    insert(attempts)
    .from_select(
        _ATTEMPT_COLUMNS,
        select(*(_ATTEMPT_VALUES[name] for name in _ATTEMPT_COLUMNS)).select_from(_FINISHED),
    )
    .cte("recorded"),
    update(endpoints)
    .where(endpoints.c.id == _FINISHED.c.endpoint_id, endpoints.c.failure_count > 0)
    .values(failure_count=0, failing_since=None)
    .cte("streak_ended"),
)


def make_ledger(engine: Engine, **policy_settings: Any) -> Ledger:
    """The fastest ledger the database supports."""
    if engine.dialect.name == "postgresql":
        return PostgresLedger(engine, **policy_settings)
    return Ledger(engine, **policy_settings)


def _state_change(claim: Claim, attempt: AttemptRecord, now: datetime) -> tuple[Any, ...]:
    params = _params(
        delivery_id=claim.delivery_id,
        token=claim.token,
        status_code=attempt.status_code,
        recorded_at=now,
    )
    if attempt.status != PENDING:
        return FINISH, {**params, **_params(new_status=attempt.status)}
    queued_until = attempt.next_attempt_at if attempt.queued else None
    return RETRY, {
        **params,
        **_params(next_attempt_at=attempt.next_attempt_at, queued_until=queued_until),
    }


def _attempt_params(claim: Claim, attempt: AttemptRecord) -> dict[str, Any]:
    return _params(
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
    )


def _params(**values: Any) -> dict[str, Any]:
    # Bind names never match a column's: SQLAlchemy would take such a key for a SET value.
    return {f"p_{name}": value for name, value in values.items()}
