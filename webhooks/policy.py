"""Failure policy: the failure streak, and disabling an endpoint that keeps failing."""

from datetime import datetime, timedelta

from sqlalchemy import Connection, func, literal, update

from webhooks.models import CANCELLED, PENDING, UTCDateTime
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints

GONE = "gone"
FAILING = "failing"


def reset_streak(conn: Connection, endpoint_id: str) -> None:
    """A success ends the failure streak."""
    conn.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id, endpoints.c.failure_count > 0)
        .values(failure_count=0, failing_since=None)
    )


def record_failure(
    conn: Connection,
    endpoint_id: str,
    now: datetime,
    *,
    disable_after: timedelta,
    disable_after_failures: int,
) -> bool:
    """Count a failed attempt; disable the endpoint if the streak is long enough. True if so."""
    row = conn.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(
            failure_count=endpoints.c.failure_count + 1,
            failing_since=func.coalesce(endpoints.c.failing_since, literal(now, UTCDateTime())),
        )
        .returning(endpoints.c.failure_count, endpoints.c.failing_since, endpoints.c.enabled)
    ).one()
    if (
        row.enabled
        and row.failure_count >= disable_after_failures
        and now - row.failing_since >= disable_after
    ):
        disable(conn, endpoint_id, FAILING, now)
        return True
    return False


def disable(conn: Connection, endpoint_id: str, reason: str, now: datetime) -> int:
    """Disable an endpoint and cancel its pending deliveries; return how many were cancelled."""
    conn.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    return cancel_pending(conn, endpoint_id, now)


def cancel_pending(conn: Connection, endpoint_id: str, now: datetime) -> int:
    """Cancel every pending delivery to an endpoint; the audit rows stay."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == PENDING)
        .values(status=CANCELLED, next_attempt_at=None, queued_until=None, updated_at=now)
    )
    return result.rowcount
