"""How an endpoint is throttled: its rate limit and its slots in flight, shared in Redis.

Every worker process and host asks the same Redis, in one Lua script per attempt, so the
limits hold across all of them:

- the rate limit is GCRA (a token bucket without a refill timer): each delivery takes the
  endpoint's next free instant; one held back reserves the instant it may go, when that is
  within the horizon, so it waits exactly once; the sends themselves may run ahead of the
  spacing by no more than a small burst, so late countdowns never bunch above the limit;
- slots in flight are a sorted set of leases that expire (a worker that dies mid-attempt
  loses its slot after the attempt's deadline, it does not leak it);
- the adaptive cap starts a new endpoint at one slot, adds one per answered attempt up to
  the endpoint's maximum, and halves when an attempt times out: a hanging endpoint is soon
  down to one thread, a healthy one back to its maximum within a few attempts;
- a "waiting" mark says deliveries are held in SQL behind the endpoint: the API holds new
  ones behind them too, and the worker that frees a slot hands it to the next.
"""

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import redis

from webhooks.config import Settings
from webhooks.errors import Unavailable

PREFIX = "webhooks:throttle"
# State outlives an idle endpoint for a while: the adaptive cap remembers a hanging one.
STATE_TTL_MS = 3_600_000
# How long the waiting mark lasts unless renewed: a lost one only costs one scheduler pass.
WAITING_TTL_MS = 60_000
# Time beyond the delivery timeout (the sender's deadline for the whole request) before a
# slot expires: a slot guards the receiver, which the request no longer occupies after it.
SLOT_MARGIN_SECONDS = 2.0
# How far the sends may run ahead of the rate limit: countdowns fire a little late, some more
# than others, and a late one sent beside the next would bunch above the limit. Within this,
# jitter costs no instant; beyond it, a delivery takes a new one. No second sees more than a
# tenth over the limit (plus one).
BURST_MS = 100

_ACQUIRE = """
local now, rate, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local lease, horizon = tonumber(ARGV[4]), tonumber(ARGV[5])
local reserved = ARGV[7] == "1"
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now)
local cap = math.min(tonumber(redis.call("HGET", KEYS[1], "cap") or "1"), most)
if redis.call("ZCARD", KEYS[2]) >= cap then
  if rate > 0 and reserved then
    -- Its reserved instant goes unused: give it back, so the limit is not undershot.
    local tat = tonumber(redis.call("HGET", KEYS[1], "tat") or "0")
    redis.call("HSET", KEYS[1], "tat", tostring(math.max(tat - 1000 / rate, now)))
  end
  return {"full", 0}
end
if rate > 0 then
  local spacing = 1000 / rate
  -- "sent": when the sends so far allow the next. Running ahead of it by over the burst (a
  -- late countdown sent just before this one), this one takes a new instant, even if it
  -- had one.
  local sent = tonumber(redis.call("HGET", KEYS[1], "sent") or "0")
  local earliest = sent - tonumber(ARGV[9])
  if earliest > now or not reserved then
    local tat = tonumber(redis.call("HGET", KEYS[1], "tat") or "0")
    local next_free = math.max(tat, earliest, now)
    local wait = next_free - now
    if wait > horizon then
      return {"later", math.ceil(wait)}
    end
    redis.call("HSET", KEYS[1], "tat", tostring(next_free + spacing))
    redis.call("PEXPIRE", KEYS[1], ARGV[8])
    if wait > 0 then
      return {"reserved", math.ceil(wait)}
    end
  end
  redis.call("HSET", KEYS[1], "sent", tostring(math.max(sent, now) + spacing))
end
redis.call("ZADD", KEYS[2], now + lease, ARGV[6])
redis.call("PEXPIRE", KEYS[2], math.ceil(lease))
return {"go", 0}
"""

# How many more deliveries an endpoint may be sent now: its free slots, and no more than the
# free instants of its rate limit within the horizon. Shared by the two scripts below.
_ROOM_OF = """
local function room_of(now, rate, most, horizon)
  redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now)
  local cap = math.min(tonumber(redis.call("HGET", KEYS[1], "cap") or "1"), most)
  local room = math.max(0, cap - redis.call("ZCARD", KEYS[2]))
  if rate > 0 then
    local next_free = math.max(tonumber(redis.call("HGET", KEYS[1], "tat") or "0"), now)
    room = math.min(room, math.max(0, math.floor((now + horizon - next_free) * rate / 1000) + 1))
  end
  return room
end
"""

_RELEASE = (
    _ROOM_OF
    + """
redis.call("ZREM", KEYS[2], ARGV[1])
local most = tonumber(ARGV[3])
local cap = tonumber(redis.call("HGET", KEYS[1], "cap") or "1")
if ARGV[2] == "1" then
  cap = math.max(1, math.floor(cap / 2))
else
  cap = math.min(cap + 1, most)
end
redis.call("HSET", KEYS[1], "cap", cap)
redis.call("PEXPIRE", KEYS[1], ARGV[4])
if redis.call("EXISTS", KEYS[3]) == 0 then
  return 0
end
return room_of(tonumber(ARGV[5]), tonumber(ARGV[6]), most, tonumber(ARGV[7]))
"""
)

_ROOM = (
    _ROOM_OF
    + """
return room_of(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
"""
)


class Verdict(StrEnum):
    """What the throttle says to one attempt."""

    GO = "go"  # a slot is taken: send now
    FULL = "full"  # every slot is in use: wait in SQL for one to free
    RESERVED = "reserved"  # the rate limit gave it a later instant: a countdown to it
    LATER = "later"  # the rate limit's next instants are all taken: wait in SQL


@dataclass(frozen=True)
class Slot:
    """The throttle's answer, and how long to wait for a reserved or later instant."""

    verdict: Verdict
    wait_seconds: float = 0.0


@dataclass(frozen=True)
class Limits:
    """One endpoint's limits as they stand now (a PATCH applies to the next attempt)."""

    rate: int | None  # deliveries per second; None: unlimited
    in_flight: int  # most attempts at once


class Throttle:
    """The shared limits of every endpoint, in the Redis at REDIS_URL."""

    def __init__(self, client: redis.Redis, *, lease_seconds: float, horizon: float):
        self.client = client
        self.lease_ms = lease_seconds * 1000
        self.horizon_ms = horizon * 1000
        self._acquire = client.register_script(_ACQUIRE)
        self._release = client.register_script(_RELEASE)
        self._room = client.register_script(_ROOM)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Throttle":
        """The throttle on the Redis at REDIS_URL."""
        client = redis.Redis.from_url(
            settings.redis_url, socket_connect_timeout=2.0, socket_timeout=2.0
        )
        return cls(
            client,
            # A slot outlives the longest request, no more: a worker lost
            # mid-attempt frees it soon after.
            lease_seconds=settings.delivery_timeout_seconds + SLOT_MARGIN_SECONDS,
            # Reservations reach as far as the scheduler's next pass but one: it releases
            # the rest of an endpoint's line in time.
            horizon=2 * settings.scheduler_interval_seconds,
        )

    def acquire(self, endpoint_id: str, limits: Limits, token: str, reserved: bool) -> Slot:
        """Take a slot for one attempt, or say how it must wait.

        `reserved`: the delivery already holds this instant of the rate limit (it waited
        for it), so only the slots are checked.
        """
        args = (
            _now_ms(),
            limits.rate or 0,
            limits.in_flight,
            self.lease_ms,
            self.horizon_ms,
            token,
            "1" if reserved else "0",
            STATE_TTL_MS,
            BURST_MS,
        )
        try:
            verdict, wait_ms = self._acquire(keys=_keys(endpoint_id)[:2], args=args)
        except redis.RedisError as exc:
            raise Unavailable(
                f"the throttle's Redis does not answer: {type(exc).__name__}"
            ) from None
        return Slot(Verdict(verdict.decode()), int(wait_ms) / 1000)

    def release(
        self, endpoint_id: str, token: str, *, timed_out: bool, most: int, rate: int | None = None
    ) -> int:
        """Give the slot back and adapt the cap; return the room held deliveries may take
        (free slots, and no more than free instants of `rate`); 0 when none wait."""
        args = (
            token,
            "1" if timed_out else "0",
            most,
            STATE_TTL_MS,
            _now_ms(),
            rate or 0,
            self.horizon_ms,
        )
        try:
            return int(self._release(keys=_keys(endpoint_id), args=args))
        except redis.RedisError:
            return 0  # the slot's lease runs out by itself

    def room(self, limits: dict[str, Limits]) -> dict[str, int] | None:
        """How many deliveries each endpoint may be sent now; None if Redis does not answer."""
        if not limits:
            return {}
        now = _now_ms()
        pipe = self.client.pipeline(transaction=False)
        for endpoint_id, endpoint in limits.items():
            args = (now, endpoint.rate or 0, endpoint.in_flight, self.horizon_ms)
            self._room(keys=_keys(endpoint_id)[:2], args=args, client=pipe)
        try:
            found = pipe.execute()
        except redis.RedisError:
            return None
        return {endpoint_id: int(n) for endpoint_id, n in zip(limits, found, strict=True)}

    def mark_waiting(self, endpoint_id: str) -> None:
        """Say that deliveries wait in SQL behind this endpoint (for a minute, unless renewed)."""
        # Lost, it costs one scheduler pass: the scheduler releases held deliveries anyway.
        with contextlib.suppress(redis.RedisError):
            self.client.set(_keys(endpoint_id)[2], b"1", px=WAITING_TTL_MS)

    def clear_waiting(self, endpoint_id: str) -> None:
        """Nothing waits behind this endpoint any more."""
        with contextlib.suppress(redis.RedisError):
            self.client.delete(_keys(endpoint_id)[2])

    def waiting(self, endpoint_ids: Iterable[str]) -> set[str]:
        """Those of the endpoints that have deliveries waiting behind them."""
        unique = list(dict.fromkeys(endpoint_ids))
        if not unique:
            return set()
        try:
            marks = self.client.mget([_keys(ep)[2] for ep in unique])
        except redis.RedisError:
            return set()  # the worker holds them instead, once each
        return {ep for ep, mark in zip(unique, marks, strict=True) if mark is not None}


def _keys(endpoint_id: str) -> tuple[str, str, str]:
    # One hash tag per endpoint: a Redis Cluster keeps an endpoint's keys on one node.
    tag = f"{{{endpoint_id}}}"
    return f"{PREFIX}:{tag}:state", f"{PREFIX}:{tag}:flight", f"{PREFIX}:{tag}:waiting"


def _now_ms() -> float:
    # The wall clock, shared by every host (their clocks agree to NTP's precision).
    return time.time() * 1000
