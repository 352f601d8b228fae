"""Sending again on an operator's word: one delivery now, or an endpoint's failures since a time."""

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from webhooks.errors import Conflict, InvalidInput
from webhooks.lists import DeliveryFilter, deliveries_query
from webhooks.models import DELIVERY_STATUSES, FAILED, PENDING, Delivery, Endpoint

RECOVER_WINDOW = timedelta(days=14)
RECOVER_BATCH = 500

log = logging.getLogger(__name__)


def retry_delivery(session: Session, delivery: Delivery, now: datetime) -> None:
    """Make a delivery due now; a finished one starts a fresh run of the retry schedule."""
    endpoint = session.get(Endpoint, delivery.endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise Conflict("the endpoint of this delivery was deleted")
    if not endpoint.enabled:
        raise Conflict("the endpoint of this delivery is disabled; enable it first")
    # An expired lease is a dead worker's: the scheduler records that lost attempt, and
    # the delivery goes out once it has.
    if delivery.lease_expires_at is not None and delivery.lease_expires_at > now:
        raise Conflict("an attempt of this delivery is in flight; retry when it has ended")
    if delivery.status != PENDING:
        # Attempt numbers continue; the schedule counts again from here.
        delivery.run_start = delivery.attempt_count
    delivery.status = PENDING
    delivery.next_attempt_at = now
    delivery.queued_until = now
    delivery.updated_at = now
    session.flush()
    log.info(
        "delivery retried",
        extra={
            "delivery_id": delivery.id,
            "event_id": delivery.event_id,
            "endpoint_id": delivery.endpoint_id,
            "tenant": delivery.tenant,
        },
    )


def recover_endpoint(
    session: Session, endpoint: Endpoint, since: datetime, now: datetime, interval: float
) -> int:
    """Make every delivery that ended failed since `since` due again; return how many.

    They are spread over scheduler passes, a batch per pass, so a large recovery
    does not flood the queue or the receiver that has just come back.
    """
    if since < now - RECOVER_WINDOW:
        raise InvalidInput.field(("since",), "at most 14 days back")
    if since > now:
        raise InvalidInput.field(("since",), "must not be in the future")
    if not endpoint.enabled:
        raise Conflict("the endpoint is disabled; enable it first")
    failed_ids = list(
        session.scalars(
            select(Delivery.id)
            .where(
                Delivery.endpoint_id == endpoint.id,
                Delivery.status == FAILED,
                Delivery.updated_at >= since,
            )
            .order_by(Delivery.id)
        )
    )
    _requeue(session, failed_ids, now, interval)
    log.info(
        "endpoint recovered",
        extra={
            "endpoint_id": endpoint.id,
            "tenant": endpoint.tenant,
            "since": since.isoformat(),
            "requeued": len(failed_ids),
        },
    )
    return len(failed_ids)


def retry_failed(session: Session, where: DeliveryFilter, now: datetime, interval: float) -> int:
    """Make every failed delivery of a filtered list due again (the last 14 days); how many.

    Deliveries to a disabled or deleted endpoint are left as they are.
    """
    live = select(Endpoint.id).where(Endpoint.enabled, Endpoint.deleted_at.is_(None))
    failed_ids = list(
        session.scalars(
            deliveries_query(replace(where, status=FAILED))
            .with_only_columns(Delivery.id)
            .where(Delivery.updated_at >= now - RECOVER_WINDOW, Delivery.endpoint_id.in_(live))
            .order_by(Delivery.id)
        )
    )
    _requeue(session, failed_ids, now, interval)
    log.info("failed deliveries retried", extra={"requeued": len(failed_ids)})
    return len(failed_ids)


def retry_progress(session: Session, where: DeliveryFilter, started: datetime) -> dict[str, int]:
    """Where the deliveries of a bulk retry begun at `started` stand now, by status."""
    # Made before the retry and changed since: what the retry touched (and later attempts).
    counts = dict.fromkeys(DELIVERY_STATUSES, 0)
    for status, number in session.execute(
        deliveries_query(replace(where, status=None))
        .with_only_columns(Delivery.status, func.count())
        .where(Delivery.created_at < started, Delivery.updated_at >= started)
        .group_by(Delivery.status)
    ):
        counts[status] = number
    return counts


def _requeue(session: Session, failed_ids: list[str], now: datetime, interval: float) -> None:
    """Make these failed deliveries due, a batch per scheduler pass so none is flooded."""
    for start in range(0, len(failed_ids), RECOVER_BATCH):
        batch = failed_ids[start : start + RECOVER_BATCH]
        due = now + timedelta(seconds=interval * (start // RECOVER_BATCH))
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(batch), Delivery.status == FAILED)
            .values(
                status=PENDING,
                run_start=Delivery.attempt_count,
                next_attempt_at=due,
                queued_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
