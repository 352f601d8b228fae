"""An endpoint's failure streak in SQL, and disabling the endpoint (by the streak, a 410 or a
user). When a streak disables an endpoint is a rule of webhooks/delivery/outcome.py."""

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Update, func, select, update

from webhooks import operations
from webhooks.models import CANCELLED, PENDING
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints


class DisabledReason(enum.StrEnum):
    """Why an endpoint stopped receiving deliveries."""

    FAILING = "failing"
    GONE = "gone"
    MANUAL = "manual"


def count_failure(endpoint_id: Any, now: Any) -> Update:
    """The statement a failure runs: one more in the endpoint's streak, dated from its first.

    `endpoint_id` and `now` are values or columns; it returns the streak as it stands.
    """
    return (
        update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(
            failure_count=endpoints.c.failure_count + 1,
            failing_since=func.coalesce(endpoints.c.failing_since, now),
        )
        .returning(endpoints.c.failure_count, endpoints.c.failing_since, endpoints.c.enabled)
    )


def end_streak(endpoint_id: Any) -> Update:
    """The statement a success runs: end the endpoint's failure streak, if it has one.

    `endpoint_id` is a value or a column (the success statement joins it in).
    """
    return (
        update(endpoints)
        .where(endpoints.c.id == endpoint_id, endpoints.c.failure_count > 0)
        .values(failure_count=0, failing_since=None)
    )


def disable(
    conn: Connection, endpoint_id: str, reason: str, now: datetime, operations_tenant: str
) -> int:
    """Disable an endpoint and cancel its pending deliveries; return how many were cancelled.

    The first disabling emits the operational event, in this transaction.
    """
    was_enabled = conn.execute(
        select(endpoints.c.enabled).where(endpoints.c.id == endpoint_id)
    ).scalar_one()
    conn.execute(
        update(endpoints)
        .where(endpoints.c.id == endpoint_id)
        .values(enabled=False, disabled_reason=reason, updated_at=now)
    )
    if was_enabled:
        operations.endpoint_disabled(conn, operations_tenant, endpoint_id, reason, now)
    return cancel_pending(conn, endpoint_id, now)


def cancel_pending(conn: Connection, endpoint_id: str, now: datetime) -> int:
    """Cancel every pending delivery to an endpoint; the audit rows stay."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == PENDING)
        .values(
            status=CANCELLED, next_attempt_at=None, queued_until=None, held=False, updated_at=now
        )
    )
    return result.rowcount
