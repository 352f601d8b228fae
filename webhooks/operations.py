"""Operational events: the service tells its operators what went wrong, through itself.

When an endpoint is disabled or enabled, or a delivery ends `failed`, an event goes into the
operations tenant (`WEBHOOKS_OPERATIONS_TENANT`), in the same transaction as the change, so
that none is lost or invented; endpoints subscribed there get it signed, retried and audited
like any other. Its deliveries are left due for the scheduler's next pass. Nothing is emitted
about the operations tenant's own endpoints and deliveries: a failing operations endpoint
must not feed itself events about its failures.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from webhooks.events.fanout import store_event
from webhooks.models import deliveries_table as deliveries
from webhooks.models import endpoints_table as endpoints
from webhooks.models import events_table as events
from webhooks.times import rfc3339

log = logging.getLogger(__name__)

ENDPOINT_DISABLED = "webhooks.endpoint.disabled"
ENDPOINT_ENABLED = "webhooks.endpoint.enabled"
DELIVERY_FAILED = "webhooks.delivery.failed"
EVENT_TYPES = (ENDPOINT_DISABLED, ENDPOINT_ENABLED, DELIVERY_FAILED)


def endpoint_disabled(
    conn: Connection, operations_tenant: str, endpoint_id: str, reason: str, now: datetime
) -> None:
    """Log an endpoint's disabling and tell the operations tenant why."""
    tenant = _endpoint_tenant(conn, endpoint_id)
    fields = {"endpoint_id": endpoint_id, "tenant": tenant, "reason": reason}
    log.warning("endpoint disabled", extra=fields)
    _emit(conn, operations_tenant, tenant, ENDPOINT_DISABLED, fields, now)


def endpoint_enabled(
    conn: Connection, operations_tenant: str, endpoint_id: str, now: datetime
) -> None:
    """Log an endpoint's enabling and tell the operations tenant."""
    tenant = _endpoint_tenant(conn, endpoint_id)
    fields = {"endpoint_id": endpoint_id, "tenant": tenant}
    log.info("endpoint enabled", extra=fields)
    _emit(conn, operations_tenant, tenant, ENDPOINT_ENABLED, fields, now)


def deliveries_failed(
    conn: Connection,
    operations_tenant: str,
    delivery_ids: Sequence[str],
    reason: str,
    now: datetime,
) -> None:
    """Tell the operations tenant that these deliveries ended `failed`, and why."""
    if not delivery_ids:
        return
    rows = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.tenant,
            deliveries.c.event_id,
            deliveries.c.endpoint_id,
            deliveries.c.attempt_count,
            deliveries.c.last_status_code,
            events.c.type,
        )
        .join(events, events.c.id == deliveries.c.event_id)
        .where(deliveries.c.id.in_(list(delivery_ids)))
    )
    for row in rows:
        data = {
            "delivery_id": row.id,
            "event_id": row.event_id,
            "event_type": row.type,
            "endpoint_id": row.endpoint_id,
            "tenant": row.tenant,
            "attempts": row.attempt_count,
            "last_status_code": row.last_status_code,
            "reason": reason,
        }
        _emit(conn, operations_tenant, row.tenant, DELIVERY_FAILED, data, now)


def _endpoint_tenant(conn: Connection, endpoint_id: str) -> str:
    tenant: str = conn.execute(
        select(endpoints.c.tenant).where(endpoints.c.id == endpoint_id)
    ).scalar_one()
    return tenant


def _emit(
    conn: Connection,
    operations_tenant: str,
    about_tenant: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
) -> None:
    if about_tenant == operations_tenant:
        return  # about the operations endpoints themselves: logged, never fed back
    stored = store_event(
        conn, operations_tenant, event_type, {**data, "at": rfc3339(now)}, now, queued=False
    )
    log.info(
        "operational event",
        extra={
            "event_id": stored.event.id,
            "type": event_type,
            "tenant": operations_tenant,
            "deliveries": len(stored.deliveries),
        },
    )


def failure_reason(error: str | None, status_code: int | None) -> str:
    """Why the last attempt failed: its error, or the status it got (`http_410`)."""
    return str(error) if error is not None else f"http_{status_code}"
