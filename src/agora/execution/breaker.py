"""The circuit breaker around a venue: closed, open, half-open (pure: time is passed in).

Closed: calls go through; ``failure_threshold`` failures in a row open the circuit. Open: calls
are refused (the caller rejects the order with ``broker_unavailable``) until
``recovery_seconds`` have passed since it opened. Half-open: one probe call at a time goes
through; ``probe_successes`` successes in a row close the circuit, any failure opens it again for
another full recovery period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    """Where the circuit is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When the circuit opens and how it recovers."""

    failure_threshold: int = 5
    recovery_seconds: float = 10.0
    probe_successes: int = 2

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.probe_successes < 1 or self.recovery_seconds < 0:
            raise ValueError("breaker thresholds must be positive")


class CircuitBreaker:
    """Decides whether a venue call may go through, from the outcomes of earlier calls."""

    def __init__(self, settings: BreakerSettings | None = None) -> None:
        self.settings = settings or BreakerSettings()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._successes = 0
        self._opened_at: datetime | None = None
        self._probing = False

    def state(self, now: datetime) -> BreakerState:
        """The state at ``now`` (an open circuit turns half-open once recovery has passed)."""
        if self._state is BreakerState.OPEN and self._recovered(now):
            self._state, self._successes, self._probing = BreakerState.HALF_OPEN, 0, False
        return self._state

    def allow(self, now: datetime) -> bool:
        """Whether a call may go through now; in half-open, one probe at a time."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self, now: datetime) -> None:
        """Note a call that succeeded."""
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._probing = False
            self._successes += 1
            if self._successes >= self.settings.probe_successes:
                self._state, self._failures = BreakerState.CLOSED, 0
        elif state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self, now: datetime) -> None:
        """Note a call that failed (an error or a timeout)."""
        state = self.state(now)
        if state is BreakerState.HALF_OPEN:
            self._open(now)
        elif state is BreakerState.CLOSED:
            self._failures += 1
            if self._failures >= self.settings.failure_threshold:
                self._open(now)

    def _open(self, now: datetime) -> None:
        self._state, self._opened_at, self._probing = BreakerState.OPEN, now, False
        self._failures = self._successes = 0

    def _recovered(self, now: datetime) -> bool:
        assert self._opened_at is not None
        return now - self._opened_at >= timedelta(seconds=self.settings.recovery_seconds)
