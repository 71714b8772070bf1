"""Per-user rate limits shared by every web worker: a sliding log in a Redis sorted set.

One key per user, ``P rl:USER`` (``P`` the prefix), holds the request times inside the window as
scores (µs, Redis's own ``TIME``, so the workers' clocks never matter). One Lua call drops the
times older than the window, counts, adds this request when the count is below the limit, and
returns the count and the oldest time: the same exact sliding log, and the same numbers for the
``X-RateLimit-*`` headers, as the in-process ``SlidingWindowLimiter``. The key expires one
second after the window, so idle users cost nothing. Memory per user is at most ``limit``
members.

**When Redis is unavailable** (an error, or no answer within ``timeout_seconds``) the limiter
stops asking it for ``cooldown_seconds`` (requests do not queue behind a dead server) and the
caller's ``on_unavailable`` decides:

- ``DENY`` — placing or replacing orders and every other state-changing request: refused with
  code ``rate_limiter_unavailable`` (HTTP 503, ``Retry-After: 1``). Fail closed: an unlimited
  client could otherwise flood the order path across every worker while nobody counts.
- ``LOCAL`` — reads, cancels and the kill switch: counted by this worker's own in-process
  ``SlidingWindowLimiter`` with the same limit. Reads stay available, still rate-limited per
  worker (at most ``workers × limit`` per user across the tier while Redis is down); cancels and
  ``halted`` reduce risk and must never wait for Redis.

``unavailable_policy(method, path)`` is that table. A decision is a ``RateDecision`` (the headers
code reads it as before) with a ``code``: ``ok``, ``rate_limited`` or
``rate_limiter_unavailable``, and ``refusal(decision)`` gives the status and message to answer.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from redis.asyncio import Redis

from agora.bus.redis_link import REDIS_DOWN
from agora.web.ratelimit import RateDecision, SlidingWindowLimiter

DEFAULT_PREFIX = "agora:"
OK = "ok"
RATE_LIMITED = "rate_limited"
UNAVAILABLE = "rate_limiter_unavailable"
FORGET_EVERY_CHECKS = 10_000

# KEYS: the user's log. ARGV: limit, window µs, member. Returns {allowed, count, reset µs}.
_CHECK = """
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local allowed = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  count = count + 1
  allowed = 1
end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  reset = tonumber(oldest[2]) + window - now
end
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000) + 1000)
return {allowed, count, reset}
"""


class OnUnavailable(StrEnum):
    """What a check answers when Redis cannot be asked."""

    DENY = "deny"  # fail closed
    LOCAL = "local"  # count in this worker alone


_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_KILL_SWITCH = "/api/v1/admin/trading-state"
_ORDERS = "/api/v1/orders"


def unavailable_policy(method: str, path: str) -> OnUnavailable:
    """Return how a request to ``method path`` is limited while Redis is unavailable."""
    method = method.upper()
    if method not in _STATE_CHANGING:
        return OnUnavailable.LOCAL  # reads
    if method == "DELETE" and (path == _ORDERS or path.startswith(_ORDERS + "/")):
        return OnUnavailable.LOCAL  # cancels reduce exposure
    if path.rstrip("/") == _KILL_SWITCH:
        return OnUnavailable.LOCAL  # halting must work with Redis down
    return OnUnavailable.DENY


@dataclass(frozen=True, slots=True)
class SharedRateDecision(RateDecision):
    """A rate decision with its reason code and where it was made."""

    code: str = OK
    source: str = "redis"  # "redis" | "local" | "none"


def refusal(decision: RateDecision) -> tuple[int, str, str]:
    """Return (HTTP status, code, message) for a decision that does not allow the request."""
    if getattr(decision, "code", RATE_LIMITED) == UNAVAILABLE:
        return 503, UNAVAILABLE, "the rate limiter is unavailable; retry shortly"
    return 429, RATE_LIMITED, f"more than {decision.limit} requests per second"


class RateLimiter(Protocol):
    """A per-user limiter the web tier awaits."""

    async def check(
        self, user_id: str, *, on_unavailable: OnUnavailable = OnUnavailable.DENY
    ) -> RateDecision:
        """Count one request by ``user_id`` if its window allows it."""
        ...


class InProcessRateLimiter:
    """The embedded shape's limiter behind the same async interface (Redis is never asked)."""

    def __init__(self, limiter: SlidingWindowLimiter) -> None:
        self.limiter = limiter

    async def check(
        self, user_id: str, *, on_unavailable: OnUnavailable = OnUnavailable.DENY
    ) -> RateDecision:
        """Count one request by ``user_id`` in this process."""
        return self.limiter.check(user_id, time.monotonic())


class RedisRateLimiter:
    """Allow at most ``limit`` requests per user in any window, counted across every worker."""

    def __init__(
        self,
        client: Redis,
        limit: int,
        window_seconds: float = 1.0,
        *,
        prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = 0.25,
        cooldown_seconds: float = 0.5,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs a positive limit and window")
        self.limit = limit
        self.prefix = prefix
        self.local = SlidingWindowLimiter(limit, window_seconds)
        self._window_us = round(window_seconds * 1_000_000)
        self._client = client
        self._script = client.register_script(_CHECK)
        self._timeout = timeout_seconds
        self._cooldown = cooldown_seconds
        self._monotonic = monotonic
        self._down_until = float("-inf")
        self._member_prefix = secrets.token_hex(6)  # distinct members for requests in one µs
        self._counter = itertools.count()
        self._local_checks = itertools.count(1)
        self.failures = 0

    async def prepare(self, timeout_seconds: float = 5.0) -> bool:
        """Connect and load the script now, so the first request pays neither; say if it did."""
        try:
            async with asyncio.timeout(timeout_seconds):
                await self._client.script_load(_CHECK)
        except REDIS_DOWN:
            return False
        return True

    @property
    def available(self) -> bool:
        """Whether the limiter is asking Redis (not cooling down after a failure)."""
        return self._monotonic() >= self._down_until

    async def check(
        self, user_id: str, *, on_unavailable: OnUnavailable = OnUnavailable.DENY
    ) -> RateDecision:
        """Count one request by ``user_id``; without Redis, deny or count locally."""
        if self.available:
            try:
                return await self._ask_redis(user_id)
            except REDIS_DOWN:
                self.failures += 1
                self._down_until = self._monotonic() + self._cooldown
        if on_unavailable is OnUnavailable.LOCAL:
            now = self._monotonic()
            if next(self._local_checks) % FORGET_EVERY_CHECKS == 0:
                self.local.forget_idle(now)  # a long outage must not grow the log forever
            local = self.local.check(user_id, now)
            return SharedRateDecision(
                local.allowed,
                local.limit,
                local.remaining,
                local.reset_seconds,
                local.retry_after_seconds,
                code=OK if local.allowed else RATE_LIMITED,
                source="local",
            )
        return SharedRateDecision(False, self.limit, 0, 1, 1, code=UNAVAILABLE, source="none")

    def key(self, user_id: str) -> str:
        """The Redis key of ``user_id``'s log."""
        return f"{self.prefix}rl:{user_id}"

    async def _ask_redis(self, user_id: str) -> RateDecision:
        member = f"{self._member_prefix}:{next(self._counter)}"
        async with asyncio.timeout(self._timeout):
            allowed, count, reset_us = await self._script(
                keys=[self.key(user_id)], args=[self.limit, self._window_us, member]
            )
        reset = max(math.ceil(int(reset_us) / 1_000_000), 0)
        return SharedRateDecision(
            allowed=bool(allowed),
            limit=self.limit,
            remaining=self.limit - int(count),
            reset_seconds=reset,
            retry_after_seconds=0 if allowed else max(reset, 1),
            code=OK if allowed else RATE_LIMITED,
        )
