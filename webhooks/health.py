"""How endpoints are doing: attempts by outcome, the last answer, the failure streak."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from webhooks.models import ATTEMPT_OUTCOMES, Attempt, Endpoint


@dataclass(frozen=True)
class Health:
    """One endpoint's recent attempts and where its streak stands."""

    attempts: dict[str, int]
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None

    @property
    def success_rate(self) -> float | None:
        """Successes among recent attempts, 0 to 1; None without attempts."""
        total = sum(self.attempts.values())
        return self.attempts["success"] / total if total else None


def attempt_outcomes(
    session: Session, endpoint_ids: Sequence[str], since: datetime
) -> dict[str, dict[str, int]]:
    """Count each endpoint's attempts since `since` by outcome."""
    counts = {endpoint_id: dict.fromkeys(ATTEMPT_OUTCOMES, 0) for endpoint_id in endpoint_ids}
    if not endpoint_ids:
        return counts
    # Rows are unpacked one by one: a Result has keys(), so dict.update() would take it
    # for a mapping of column names.
    for endpoint_id, outcome, number in session.execute(
        select(Attempt.endpoint_id, Attempt.outcome, func.count())
        .where(Attempt.endpoint_id.in_(endpoint_ids), Attempt.started_at >= since)
        .group_by(Attempt.endpoint_id, Attempt.outcome)
    ):
        counts[endpoint_id][outcome] = number
    return counts


def endpoint_health(
    session: Session, endpoints: Sequence[Endpoint], since: datetime
) -> dict[str, Health]:
    """The health of each endpoint over the attempts made since `since`."""
    ids = [endpoint.id for endpoint in endpoints]
    outcomes = attempt_outcomes(session, ids, since)
    last: dict[str, tuple[int | None, str | None, datetime]] = {}
    if ids:
        latest = (
            select(Attempt.endpoint_id, func.max(Attempt.started_at))
            .where(Attempt.endpoint_id.in_(ids), Attempt.started_at >= since)
            .group_by(Attempt.endpoint_id)
        )
        for endpoint_id, status_code, error, started_at in session.execute(
            select(
                Attempt.endpoint_id, Attempt.status_code, Attempt.error, Attempt.started_at
            ).where(tuple_(Attempt.endpoint_id, Attempt.started_at).in_(latest))
        ):
            last[endpoint_id] = (status_code, error, started_at)
    return {
        endpoint_id: Health(outcomes[endpoint_id], *last.get(endpoint_id, (None, None, None)))
        for endpoint_id in ids
    }
