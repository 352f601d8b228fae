"""The requeuer: SQL says what is due and nobody holds, and this puts it back on the queue.

Celery beat runs one pass every scheduler interval (the `webhooks.schedule` task). A pass
records attempts lost with their worker, queues what is due and not queued (parked retries,
messages a broker lost), and releases deliveries held behind their endpoint's throttle,
per endpoint no more than its limits let go before the next pass.
"""

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, or_, select, update

from webhooks.config import Settings
from webhooks.delivery import held
from webhooks.delivery.broker_loss import BrokerWatch
from webhooks.delivery.outcome import AttemptError, Rules
from webhooks.delivery.queue import Dispatcher, dispatch
from webhooks.delivery.throttle import Limits, Throttle
from webhooks.ids import new_id
from webhooks.models import FAILED, PENDING
from webhooks.models import attempts_table as attempts
from webhooks.models import deliveries_table as deliveries
from webhooks.operations import deliveries_failed
from webhooks.times import utcnow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tick:
    """What one pass of the requeuer did."""

    reaped: int = 0
    queued: int = 0
    unqueued: int = 0
    released: int = 0  # held deliveries released to their endpoint
    held: int = 0  # due deliveries held behind their endpoint, over its quota for the pass


class Requeuer:
    """Find deliveries nobody holds and queue them: lost messages, parked retries, dead workers."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        dispatcher: Dispatcher,
        *,
        batch_size: int = 500,
        clock: Callable[[], datetime] = utcnow,
        broker: BrokerWatch | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.dispatcher = dispatcher
        self.batch_size = batch_size
        self.clock = clock
        self.rules = Rules.from_settings(settings)
        self.broker = broker or BrokerWatch(None)
        self.throttle = throttle

    def tick(self) -> Tick:
        """Run one pass, in batches, for at most one scheduler interval."""
        stop = time.monotonic() + self.settings.scheduler_interval_seconds
        if self.broker.lost():
            self.requeue_all_queued()
        queued: Counter[str] = Counter()  # per endpoint, this pass: its quota bounds it
        reaped = sent = unsent = behind = 0
        while True:
            batch_reaped = self.reap_expired_leases()
            batch_sent, batch_unsent, batch_behind = self.queue_due(queued)
            reaped += batch_reaped
            sent, unsent, behind = sent + batch_sent, unsent + batch_unsent, behind + batch_behind
            batch = batch_sent + batch_unsent + batch_behind
            full = max(batch_reaped, batch) >= self.batch_size
            if batch_unsent or not full or time.monotonic() >= stop:
                break
        released = self.release_held(queued) if not unsent else 0
        if reaped or sent or unsent or behind or released:
            log.info(
                "requeue: reaped %d, queued %d, broker refused %d, held %d, released %d",
                *(reaped, sent, unsent, behind, released),
            )
        return Tick(reaped, sent, unsent, released, behind)

    @property
    def default_cap(self) -> int:
        """Slots of an endpoint whose max_in_flight is null."""
        return self.settings.max_in_flight_per_endpoint

    def quotas(self, limits: dict[str, Limits]) -> dict[str, int]:
        """What each endpoint may be sent this pass: the throttle's room, else its limits'."""
        room = self.throttle.room(limits) if self.throttle is not None else None
        if room is not None:
            return room
        interval = self.settings.scheduler_interval_seconds
        return {endpoint_id: held.quota(each, interval) for endpoint_id, each in limits.items()}

    def requeue_all_queued(self) -> int:
        """The broker lost its messages: queue again every due, queued, unheld delivery.

        Not those due later: their countdowns wait in the workers' memory, which the broker's
        loss leaves alone (and a worker lost with them is the lease's and the stale mark's
        case). Sent again, they would take a second instant of a rate limit.
        """
        with self.engine.begin() as conn:
            count = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.status == PENDING,
                    ~deliveries.c.held,
                    deliveries.c.next_attempt_at <= self.clock(),
                    deliveries.c.lease_expires_at.is_(None),
                    deliveries.c.queued_until.is_not(None),
                )
                .values(queued_until=None)
            ).rowcount
        log.warning("requeue: the broker lost its queued messages; %d queued again", count)
        return count

    def release_held(self, queued: Counter[str] | None = None) -> int:
        """Queue held deliveries: per endpoint, what is left of its quota for the pass."""
        with self.engine.begin() as conn:
            released = held.release(
                conn,
                self.clock(),
                self.quotas,
                Counter() if queued is None else queued,
                default_cap=self.default_cap,
                most=self.batch_size,
            )
        unsent = dispatch(self.engine, self.dispatcher, released)
        return len(released) - len(unsent)

    def reap_expired_leases(self) -> int:
        """Record attempts whose worker died mid-flight, and make their deliveries due now."""
        now = self.clock()
        lease = timedelta(seconds=self.settings.lease_seconds)
        with self.engine.begin() as conn:
            lost = conn.execute(
                select(
                    deliveries.c.id,
                    deliveries.c.endpoint_id,
                    deliveries.c.attempt_count,
                    deliveries.c.run_start,
                    deliveries.c.lease_expires_at,
                    deliveries.c.status,
                )
                # Any status: a delivery cancelled while its attempt was in flight keeps
                # the lease until that attempt is recorded, or reaped here.
                .where(deliveries.c.lease_expires_at < now)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if lost:
                conn.execute(
                    insert(attempts),
                    [
                        {
                            "id": new_id("att"),
                            "delivery_id": row.id,
                            "endpoint_id": row.endpoint_id,
                            "number": row.attempt_count,
                            "started_at": row.lease_expires_at - lease,
                            "duration_ms": None,
                            "error": AttemptError.WORKER_LOST,
                            "outcome": "failure",
                        }
                        for row in lost
                    ],
                )
            after: dict[str, list[str]] = defaultdict(list)
            for row in lost:
                run_attempt = row.attempt_count - row.run_start
                after[self.rules.status_after_lost(row.status, run_attempt)].append(row.id)
            ops = self.rules.operations_tenant
            deliveries_failed(conn, ops, after.get(FAILED, []), AttemptError.WORKER_LOST, now)
            for status, ids in after.items():
                conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_(ids))
                    .values(
                        status=status,
                        next_attempt_at=now if status == PENDING else None,
                        lease_token=None,
                        lease_expires_at=None,
                        queued_until=None,
                        updated_at=now,
                    )
                )
        if lost:
            log.warning("requeue: %d attempts outlived their lease (worker lost)", len(lost))
        return len(lost)

    def queue_due(self, queued: Counter[str] | None = None) -> tuple[int, int, int]:
        """Queue pending deliveries that are due and that no queued task will pick up.

        Per endpoint no more than its quota for the pass (`queued` counts them across a
        pass's batches): the rest are held behind it. Return how many were queued, refused by
        the broker, and held.
        """
        queued = Counter() if queued is None else queued
        now = self.clock()
        # A task queued longer ago than a lease and still not run is presumed lost.
        stale = now - timedelta(seconds=self.settings.lease_seconds)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(deliveries.c.id, deliveries.c.endpoint_id)
                .where(
                    deliveries.c.status == PENDING,
                    ~deliveries.c.held,
                    deliveries.c.next_attempt_at <= now,
                    deliveries.c.lease_expires_at.is_(None),
                    or_(deliveries.c.queued_until.is_(None), deliveries.c.queued_until <= stale),
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            endpoint_ids = {row.endpoint_id for row in rows}
            allowed = self.quotas(held.limits(conn, endpoint_ids, self.default_cap))
            due, behind = held.split(rows, allowed, queued)
            if due:
                conn.execute(
                    update(deliveries).where(deliveries.c.id.in_(due)).values(queued_until=now)
                )
            held.hold(conn, list(behind))
        if self.throttle is not None:
            # The API and the workers hold the endpoints' next deliveries behind these.
            for endpoint_id in set(behind.values()):
                self.throttle.mark_waiting(endpoint_id)
        unsent = dispatch(self.engine, self.dispatcher, due)
        return len(due) - len(unsent), len(unsent), len(behind)
