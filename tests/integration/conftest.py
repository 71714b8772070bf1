"""Fixtures for tests that run the lanes on a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from agora.bootstrap import Platform, build_platform
from agora.config import Settings
from agora.core.clock import ManualClock
from agora.marketdata.cache import LastPriceCache
from agora.risk import RiskLimits

RACE_LIMITS = RiskLimits(
    max_concentration_bps=1_000_000,
    max_orders_per_second=1_000_000,
    price_max_age_ms=3_600_000,
)


def settings_for(data_dir: Path) -> Settings:
    """Settings on ``data_dir`` with limits loose enough that only buying power binds."""
    return replace(Settings(), data_dir=data_dir, risk=RACE_LIMITS)


async def start(data_dir: Path, clock: ManualClock, prices: LastPriceCache) -> Platform:
    """Start the embedded platform on ``data_dir``."""
    return await build_platform(settings_for(data_dir), clock=clock, prices=prices)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def prices(clock: ManualClock) -> LastPriceCache:
    cache = LastPriceCache()
    cache.update("AAPL", 2_000_000, clock.now())
    return cache


@pytest.fixture
async def platform(
    tmp_path: Path, clock: ManualClock, prices: LastPriceCache
) -> AsyncIterator[Platform]:
    running = await start(tmp_path / "data", clock, prices)
    yield running
    await running.close()
