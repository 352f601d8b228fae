"""The delivery hot path's SQL, built once with bind parameters.

Building a statement per attempt costs more CPU than the database spends running it, so
each is built here, once; `bind()` names the values they take.
"""

from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    Integer,
    String,
    Text,
    bindparam,
    case,
    insert,
    null,
    select,
    true,
    update,
)

from webhooks.delivery.outcome import AttemptError
from webhooks.delivery.streak import count_failure, end_streak
from webhooks.models import CANCELLED, PENDING, UTCDateTime
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints
from webhooks.models import events_table as events


def bind(**values: Any) -> dict[str, Any]:
    """Bind values for these statements, by name."""
    # Bind names never match a column's: SQLAlchemy would take such a key for a SET value.
    return {f"p_{name}": value for name, value in values.items()}


def _time(name: str) -> Any:
    return bindparam(f"p_{name}", type_=UTCDateTime())


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
    deliveries.c.tenant,
)
_TARGET = (
    endpoints.c.url,
    endpoints.c.sealed_url,
    endpoints.c.secret,
    endpoints.c.previous_secret,
    endpoints.c.previous_secret_expires_at,
    endpoints.c.enabled,
    endpoints.c.deleted_at,
    endpoints.c.headers,
    endpoints.c.send_traceparent,
    endpoints.c.rate_limit,
    endpoints.c.max_in_flight,
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
# Held back by the endpoint's throttle: the claim is undone (no attempt was made) and the
# delivery waits, on a countdown or held in SQL. A cancellation meanwhile stands.
HOLD = (
    update(deliveries)
    .where(*_HOLDER)
    .values(
        attempt_count=deliveries.c.attempt_count - 1,
        lease_token=None,
        lease_expires_at=None,
        next_attempt_at=case((_CANCELLED, null()), else_=_time("next_attempt_at")),
        queued_until=case((_CANCELLED, null()), else_=_time("queued_until")),
        held=case((_CANCELLED, False), else_=bindparam("p_held", type_=Boolean())),
    )
)
# The same for the driver, which runs statements that return rows.
HOLD_RETURNING = HOLD.returning(deliveries.c.id)
# The worker that frees an endpoint's slot hands the free slots to its next held deliveries
# (two statements: inside `id IN (...)` PostgreSQL would run the locking subquery per row).
NEXT_HELD = (
    select(deliveries.c.id)
    .where(
        deliveries.c.held,
        deliveries.c.endpoint_id == bindparam("p_endpoint_id", type_=String()),
        deliveries.c.next_attempt_at <= _time("due_by"),
    )
    .order_by(deliveries.c.next_attempt_at)
    .limit(bindparam("p_count", type_=Integer()))
    .with_for_update(skip_locked=True)
)
UNHOLD = (
    update(deliveries)
    .where(deliveries.c.id.in_(bindparam("p_ids", expanding=True)))
    .values(held=False, queued_until=_time("queued_at"))
)
# The two in one statement, for the driver: the CTE locks (and is run) once, not per row.
_NEXT = NEXT_HELD.cte("next_held")
HAND_OVER = (
    update(deliveries)
    .where(deliveries.c.id == _NEXT.c.id)
    .values(held=False, queued_until=_time("queued_at"))
    .returning(deliveries.c.id, deliveries.c.next_attempt_at)
)
ANY_HELD = (
    select(deliveries.c.id)
    .where(
        deliveries.c.held, deliveries.c.endpoint_id == bindparam("p_endpoint_id", type_=String())
    )
    .limit(1)
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
    "request_headers",
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
    "request_headers": bindparam("p_request_headers", type_=Text()),
}
INSERT_ATTEMPT = insert(attempts).values(**_ATTEMPT_VALUES)
FILL_PLACEHOLDER = (
    update(attempts)
    .where(
        attempts.c.delivery_id == bindparam("p_delivery_id", type_=String()),
        attempts.c.number == bindparam("p_number", type_=Integer()),
        attempts.c.error == AttemptError.WORKER_LOST.value,
    )
    .values(
        duration_ms=bindparam("p_duration_ms", type_=Float()),
        status_code=bindparam("p_status_code", type_=Integer()),
        response_body=bindparam("p_response_body", type_=Text()),
        error=bindparam("p_error", type_=String()),
        outcome=bindparam("p_outcome", type_=String()),
        request_headers=bindparam("p_request_headers", type_=Text()),
    )
)


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
    end_streak(_FINISHED.c.endpoint_id).cte("streak_ended"),
)
# A failure with a retry to come, likewise: the delivery, its attempt and one more failure in
# the endpoint's streak, returned so the caller can see whether the streak disables it.
_RETRIED = RETRY.returning(deliveries.c.endpoint_id).cte("retried")
_COUNTED = count_failure(_RETRIED.c.endpoint_id, _time("recorded_at")).cte("counted")
RECORD_RETRY = (
    select(
        _RETRIED.c.status,
        _COUNTED.c.failure_count,
        _COUNTED.c.failing_since,
        _COUNTED.c.enabled,
    )
    .select_from(_RETRIED.outerjoin(_COUNTED, true()))
    .add_cte(
        insert(attempts)
        .from_select(
            _ATTEMPT_COLUMNS,
            select(*(_ATTEMPT_VALUES[name] for name in _ATTEMPT_COLUMNS)).select_from(_RETRIED),
        )
        .cte("recorded")
    )
)
