"""The whole platform in one process: lanes, bus, positions, execution, market data and web.

``start_embedded`` is the composition ``agora serve`` runs; ``Embedded.close`` stops it in the
reverse order, so the lanes drain and commit last, after everything that feeds them has stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI

from agora.audit import AuditWriter
from agora.bootstrap import Platform, build_platform
from agora.bus.inprocess import InProcessBus
from agora.config import Settings
from agora.core.errors import ValidationError
from agora.execution.engine import ExecutionEngine
from agora.execution.venues.simulated.venue import SimulatedVenue
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.feeds import Pacer, SyntheticFeed
from agora.marketdata.hub import MarketDataHub
from agora.marketdata.normalize import FeedKind
from agora.marketdata.ports import Feed
from agora.marketdata.quotes import quote_batch_observer
from agora.marketdata.recorder import CandleRecorder
from agora.marketdata.records import PriceUpdate
from agora.marketdata.replay import ReplayFeed, open_source
from agora.marketdata.synthetic import SyntheticMarket
from agora.marketdata.trading_calendar import TradingCalendar
from agora.marketdata.views import price_payload
from agora.marketdata.xnys import make_calendar
from agora.positions.projector import PositionProjector
from agora.storage.candles_sqlite import SqliteCandleStore
from agora.storage.sqlite import SqliteStore
from agora.web.app import create_app
from agora.web.compose import PlatformParts, make_context
from agora.web.context import WebContext, WebSettings
from agora.web.market import MarketView
from agora.web.routes.admin import load_platform_state

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Embedded:
    """The running services of ``agora serve``."""

    platform: Platform
    bus: InProcessBus
    engine: ExecutionEngine
    venue: SimulatedVenue
    hub: MarketDataHub
    recorder: CandleRecorder
    candles: SqliteCandleStore
    web: WebContext
    app: FastAPI
    audit: AuditWriter
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        """Stop feeding, then executing, then the lanes (which drain and commit)."""
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.hub.stop()
        await self.recorder.stop()
        await self.web.order_stream.stop()
        await self.engine.stop()
        await self.bus.stop()
        await self.platform.orders.stop()  # the lanes drain and commit their last events
        await self.audit.stop()  # writes every committed event, then releases the log
        await self.platform.close()
        await self.candles.close()


def _price_publisher(web: WebContext) -> Callable[[Sequence[PriceUpdate]], None]:
    """Hand price updates to the SSE connections that follow them (nothing to format if none)."""
    stream = web.price_stream

    def publish(updates: Sequence[PriceUpdate]) -> None:
        if not stream.subscribers():
            return
        for update in updates:
            stream.publish(update.symbol, price_payload(update))

    return publish


def make_feed(settings: Settings, platform: Platform) -> Feed | None:
    """The configured feed: synthetic (seeded), a replayed file, or none."""
    pacer = Pacer(platform.clock)
    if settings.feed == "none":
        return None
    if settings.feed == "synthetic":
        market = SyntheticMarket(
            platform.instruments.all(),
            seed=settings.seed,
            seconds_per_update=1.0 / settings.feed_rate_per_second,
        )
        return SyntheticFeed(market, pacer, rate=settings.feed_rate_per_second)
    if settings.feed.startswith("replay:"):
        path = Path(settings.feed.removeprefix("replay:"))
        source = open_source(path, FeedKind.QUOTES, platform.instruments)
        return ReplayFeed(source, pacer, speed=1.0, restamp=True, repeat=True)
    raise ValidationError(
        f"unknown feed {settings.feed!r}: use synthetic, replay:FILE or none", code="invalid_feed"
    )


async def start_embedded(settings: Settings) -> Embedded:
    """Build and start every service of the embedded platform."""
    calendar = make_calendar(settings.calendar)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = await SqliteStore.open(settings.database_path)
    candles = await SqliteCandleStore.open(settings.database_path)  # after: migrations run once
    platform = await build_platform(settings, store=store)
    bus = InProcessBus(store, store, (PositionProjector(platform.instruments),))
    platform.orders.on_commit(bus.notify)
    venue = SimulatedVenue(latency_seconds=settings.venue_latency_ms / 1000)
    engine = ExecutionEngine(
        venue=venue,
        orders=platform.orders,
        outbox=store,
        checkpoints=store,
        clock=platform.clock,
        calendar=calendar,  # orders placed while it is closed wait for the open (ADR 12)
        documents=store,
        release_rate_per_second=settings.release_rate_per_second,
    )
    recorder = CandleRecorder(candles, CandleAggregator())
    await recorder.resume(platform.clock.now())
    hub = MarketDataHub()
    web = _web_context(settings, platform, store, recorder, calendar)
    await load_platform_state(web)
    hub.subscribe_batches("prices", platform.prices.on_prices)
    hub.subscribe_batches("candles", recorder.on_prices)
    hub.subscribe_batches("venue", quote_batch_observer(venue.on_quote, platform.instruments))
    hub.subscribe_batches("sse", _price_publisher(web))
    audit = AuditWriter(store, settings.data_dir)
    embedded = Embedded(
        platform, bus, engine, venue, hub, recorder, candles, web, create_app(web), audit
    )
    bus.start()
    await audit.start()
    await engine.start()
    await hub.start()
    await recorder.start()
    await web.order_stream.start()
    feed = make_feed(settings, platform)
    if feed is not None:
        embedded.tasks.append(asyncio.create_task(hub.pump(feed), name="feed"))
    return embedded


def _web_context(
    settings: Settings,
    platform: Platform,
    store: SqliteStore,
    recorder: CandleRecorder,
    calendar: TradingCalendar,
) -> WebContext:
    parts = PlatformParts(
        orders=platform.orders,
        store=store,
        prices=platform.prices,
        instruments=platform.instruments,
        controls=platform.controls,
        clock=platform.clock,
        ids=platform.ids,
        metrics=platform.metrics,
    )
    market = MarketView(
        prices=platform.prices,
        recorder=recorder,
        calendar=calendar,
        clock=platform.clock,
        instruments=platform.instruments,
    )
    web_settings = WebSettings(
        rate_limit_per_second=settings.rate_limit_per_second,
        paper_deposits=settings.paper_deposits,
    )
    return make_context(parts, market, web_settings)
