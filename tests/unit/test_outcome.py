"""The retry schedule's waits, and what each HTTP outcome means for a delivery."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from webhooks.config import DEFAULT_RETRY_SCHEDULE
from webhooks.delivery.outcome import RetrySchedule, Verdict, classify, parse_retry_after

SCHEDULE = RetrySchedule(DEFAULT_RETRY_SCHEDULE)
NOW = datetime(2026, 11, 26, 16, 36, 19, tzinfo=UTC)


@pytest.mark.parametrize("attempt", range(1, len(DEFAULT_RETRY_SCHEDULE) + 1))
def test_delay_after_stays_within_ten_percent_of_its_step(attempt: int) -> None:
    """Each wait is its step +-10%, and the jitter really spreads the waits."""
    rng = random.Random(attempt)
    base = DEFAULT_RETRY_SCHEDULE[attempt - 1]
    delays = [SCHEDULE.delay_after(attempt, rng=rng) for _ in range(500)]

    assert all(d is not None and base * 0.9 <= d <= base * 1.1 for d in delays)
    # Spread over most of the band, on both sides of the step: a thundering herd disperses.
    floats = [d for d in delays if d is not None]
    assert min(floats) < base * 0.92 and max(floats) > base * 1.08


def test_delay_after_is_reproducible_with_a_seeded_rng() -> None:
    """The same seed gives the same waits (the randomness is injectable)."""
    first = [SCHEDULE.delay_after(n, rng=random.Random(7)) for n in range(1, 8)]
    second = [SCHEDULE.delay_after(n, rng=random.Random(7)) for n in range(1, 8)]
    assert first == second


@pytest.mark.parametrize("attempt", [0, -1, 8, 100])
def test_delay_after_is_none_outside_the_schedule(attempt: int) -> None:
    """Past the last step (or before the first) there is no next attempt: the delivery failed."""
    assert SCHEDULE.delay_after(attempt, rng=random.Random(0)) is None


def test_delay_after_the_last_step_is_none_even_with_retry_after() -> None:
    """A receiver's Retry-After does not extend the schedule past its end."""
    assert SCHEDULE.delay_after(len(DEFAULT_RETRY_SCHEDULE) + 1, retry_after=10) is None


def test_retry_after_longer_than_the_step_is_honoured() -> None:
    """A receiver asking for 600 s after the first failure waits at least 600 s, not 5."""
    delay = SCHEDULE.delay_after(1, retry_after=600, rng=random.Random(1))
    assert delay == 600


def test_retry_after_shorter_than_the_step_does_not_shorten_it() -> None:
    """Retry-After is a minimum: the schedule's own longer wait stands."""
    delay = SCHEDULE.delay_after(3, retry_after=1, rng=random.Random(1))
    assert delay is not None and 1800 * 0.9 <= delay <= 1800 * 1.1


def test_retry_after_is_capped_at_the_longest_step() -> None:
    """A receiver asking for a week waits only as long as the schedule's longest step."""
    delay = SCHEDULE.delay_after(1, retry_after=7 * 86400, rng=random.Random(1))
    assert delay == 36000


def test_empty_schedule_never_retries() -> None:
    """With no steps the first failure is final."""
    assert RetrySchedule(()).delay_after(1, retry_after=5) is None


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_classify_2xx_succeeds(status: int) -> None:
    """Any 2xx answer is a success."""
    assert classify(status, None) is Verdict.SUCCEEDED


@pytest.mark.parametrize("status", [100, 300, 400, 401, 404, 408, 429, 500, 502, 503, 599])
def test_classify_other_statuses_retry(status: int) -> None:
    """Anything but 2xx and 410 is retried by the schedule."""
    assert classify(status, None) is Verdict.RETRY


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_classify_unfollowed_redirect_retries(status: int) -> None:
    """A redirect is not followed and counts as a failure to retry."""
    assert classify(status, "redirect_not_followed") is Verdict.RETRY


def test_classify_410_fails_at_once() -> None:
    """410 Gone ends the delivery without retry."""
    assert classify(410, None) is Verdict.FAILED


@pytest.mark.parametrize(
    "error", ["timeout", "connection_error", "tls_error", "dns_error", "invalid_response"]
)
def test_classify_network_errors_retry(error: str) -> None:
    """A failure without an HTTP answer is retried."""
    assert classify(None, error) is Verdict.RETRY


def test_classify_blocked_address_fails_at_once() -> None:
    """A blocked address will not unblock by waiting: no retry."""
    assert classify(None, "blocked_address") is Verdict.FAILED


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 0 ", 0.0), ("86400", 86400.0)])
def test_parse_retry_after_seconds(status: int, value: str, seconds: float) -> None:
    """Delay-seconds form on 429 and 503 is read as seconds."""
    assert parse_retry_after(status, value, NOW) == seconds


def test_parse_retry_after_http_date() -> None:
    """An HTTP date is read as the time left until then."""
    value = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(503, value, NOW) == 90.0


def test_parse_retry_after_http_date_in_the_past_is_zero() -> None:
    """A date already passed means no extra wait, never a negative one."""
    assert parse_retry_after(429, "Wed, 21 Oct 2015 07:28:00 GMT", NOW) == 0.0


def test_parse_retry_after_obsolete_date_forms() -> None:
    """RFC 850 and asctime dates, which HTTP still allows, are read too."""
    later = NOW + timedelta(hours=1)
    rfc850 = later.strftime("%A, %d-%b-%y %H:%M:%S GMT")
    asctime = later.strftime("%a %b %d %H:%M:%S %Y")
    assert parse_retry_after(503, rfc850, NOW) == 3600.0
    assert parse_retry_after(503, asctime, NOW) == 3600.0


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "soon",
        "-5",
        "1.5",
        "12abc",
        "Wed, 32 Oct 2015 07:28:00 GMT",
        "Wed, 21 Oct 99999 07:28:00 GMT",
        "\xb2",  # "²" as latin-1 decoding hands it over: isdigit() but not a number
        "\u0661\u0662",  # Arabic-Indic digits: not HTTP's DIGIT
    ],
)
def test_parse_retry_after_ignores_junk(value: str | None) -> None:
    """A malformed Retry-After is ignored rather than crashing the attempt's record."""
    assert parse_retry_after(503, value, NOW) is None


@pytest.mark.parametrize("status", [None, 200, 301, 400, 410, 500, 502])
def test_parse_retry_after_only_counts_on_429_and_503(status: int | None) -> None:
    """Retry-After on any other status does not change the schedule."""
    assert parse_retry_after(status, "120", NOW) is None
