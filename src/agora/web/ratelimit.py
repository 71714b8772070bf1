"""Per-user rate limits over a sliding window, with the numbers the response headers show.

The window is a sliding log of request times per user (a deque); each check drops the times
older than the window, so memory per user is bounded by the limit. Checks are O(1) amortised and
never wait, so a user far over the limit costs others nothing but the check itself.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one check and what the headers say."""

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int  # until the oldest counted request leaves the window
    retry_after_seconds: int  # 0 when allowed


class SlidingWindowLimiter:
    """Allow at most ``limit`` requests per user in any window of ``window_seconds``."""

    def __init__(self, limit: int, window_seconds: float = 1.0) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError("a rate limit needs a positive limit and window")
        self.limit = limit
        self._window = window_seconds
        self._log: dict[str, deque[float]] = {}

    def check(self, user_id: str, now: float) -> RateDecision:
        """Count a request by ``user_id`` at monotonic time ``now`` if the window allows it."""
        times = self._log.setdefault(user_id, deque())
        horizon = now - self._window
        while times and times[0] <= horizon:
            times.popleft()
        allowed = len(times) < self.limit
        if allowed:
            times.append(now)
        reset = math.ceil(times[0] + self._window - now) if times else 0
        return RateDecision(
            allowed=allowed,
            limit=self.limit,
            remaining=self.limit - len(times),
            reset_seconds=max(reset, 0),
            retry_after_seconds=0 if allowed else max(reset, 1),
        )

    def forget_idle(self, now: float) -> None:
        """Drop users with no request inside the window (call now and then)."""
        horizon = now - self._window
        for user_id in [u for u, times in self._log.items() if not times or times[-1] <= horizon]:
            del self._log[user_id]
