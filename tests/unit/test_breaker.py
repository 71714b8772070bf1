"""The circuit breaker's transitions, each at its boundary."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agora.core.clock import ManualClock
from agora.execution.breaker import BreakerSettings, BreakerState, CircuitBreaker

SETTINGS = BreakerSettings(failure_threshold=3, recovery_seconds=10, probe_successes=2)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def opened(clock: ManualClock) -> CircuitBreaker:
    breaker = CircuitBreaker(SETTINGS)
    for _ in range(3):
        breaker.record_failure(clock.now())
    return breaker


def test_opens_at_the_threshold_of_consecutive_failures(clock: ManualClock) -> None:
    breaker = CircuitBreaker(SETTINGS)
    breaker.record_failure(clock.now())
    breaker.record_failure(clock.now())
    assert breaker.allow(clock.now())  # two failures: still closed
    breaker.record_failure(clock.now())
    assert breaker.state(clock.now()) is BreakerState.OPEN
    assert not breaker.allow(clock.now())


def test_a_success_resets_the_failure_count(clock: ManualClock) -> None:
    breaker = CircuitBreaker(SETTINGS)
    for _ in range(2):
        breaker.record_failure(clock.now())
    breaker.record_success(clock.now())
    for _ in range(2):
        breaker.record_failure(clock.now())
    assert breaker.state(clock.now()) is BreakerState.CLOSED


def test_half_opens_exactly_after_the_recovery_time(clock: ManualClock) -> None:
    breaker = opened(clock)
    clock.advance(timedelta(seconds=10) - timedelta(microseconds=1))
    assert not breaker.allow(clock.now())
    clock.advance(timedelta(microseconds=1))
    assert breaker.state(clock.now()) is BreakerState.HALF_OPEN


def test_half_open_lets_one_probe_at_a_time_and_closes_after_enough_successes(
    clock: ManualClock,
) -> None:
    breaker = opened(clock)
    clock.advance(timedelta(seconds=10))
    assert breaker.allow(clock.now())
    assert not breaker.allow(clock.now())  # the probe is still out
    breaker.record_success(clock.now())
    assert breaker.state(clock.now()) is BreakerState.HALF_OPEN  # one success of two
    assert breaker.allow(clock.now())
    breaker.record_success(clock.now())
    assert breaker.state(clock.now()) is BreakerState.CLOSED


def test_a_failed_probe_opens_again_for_a_full_period(clock: ManualClock) -> None:
    breaker = opened(clock)
    clock.advance(timedelta(seconds=10))
    assert breaker.allow(clock.now())
    breaker.record_failure(clock.now())
    assert breaker.state(clock.now()) is BreakerState.OPEN
    clock.advance(timedelta(seconds=9))
    assert not breaker.allow(clock.now())
    clock.advance(timedelta(seconds=1))
    assert breaker.allow(clock.now())


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="positive"):
        BreakerSettings(failure_threshold=0)
