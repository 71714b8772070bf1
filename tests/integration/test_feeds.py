"""Feeds end to end: paced synthetic updates, CSV and Parquet replay, the hub into the cache,
the candle store and the venue's quotes."""

from __future__ import annotations

import asyncio
import csv
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from agora.core.clock import ManualClock
from agora.core.errors import ValidationError
from agora.core.instruments import InstrumentRegistry
from agora.execution.venues.reports import Quote
from agora.marketdata.cache import LastPriceCache
from agora.marketdata.candles import CandleAggregator
from agora.marketdata.feeds import Pacer, SyntheticFeed
from agora.marketdata.hub import MarketDataHub
from agora.marketdata.normalize import FeedKind
from agora.marketdata.quotes import quote_batch_observer, quote_observer
from agora.marketdata.recorder import CandleRecorder
from agora.marketdata.records import Candle, Interval, PriceUpdate
from agora.marketdata.replay import CsvSource, ParquetSource, ReplayFeed, open_source, sample_file
from agora.marketdata.synthetic import SyntheticMarket
from agora.storage.candles_sqlite import SqliteCandleStore

T0 = datetime(2025, 12, 1, 14, 30, tzinfo=UTC)
INSTRUMENTS = InstrumentRegistry.default()


class ClockSleep:
    """A sleep that moves a manual clock instead of waiting, and records each delay."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` and yield once."""
        self.delays.append(seconds)
        self.clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)


async def take(updates: AsyncIterator[PriceUpdate], count: int) -> list[PriceUpdate]:
    """Return the first ``count`` updates of a feed."""
    taken = []
    async for update in updates:
        taken.append(update)
        if len(taken) == count:
            break
    return taken


def synthetic(seed: int, clock: ManualClock, sleep: ClockSleep, rate: float) -> SyntheticFeed:
    """Return a synthetic feed of the default universe."""
    market = SyntheticMarket(INSTRUMENTS.all(), seed=seed, seconds_per_update=1 / rate)
    return SyntheticFeed(market, Pacer(clock, sleep), rate=rate)


async def test_the_synthetic_feed_keeps_its_rate_on_the_clock() -> None:
    clock = ManualClock(T0)
    sleep = ClockSleep(clock)
    updates = await take(synthetic(42, clock, sleep, rate=20).updates(), 5)
    assert [u.timestamp - T0 for u in updates] == [timedelta(milliseconds=50 * n) for n in range(5)]
    assert sleep.delays == [0.0, 0.05, 0.05, 0.05, 0.05]
    assert [u.symbol for u in updates] == ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL"]


async def test_the_same_seed_replays_the_same_synthetic_prices() -> None:
    one = await take(synthetic(9, ManualClock(T0), ClockSleep(ManualClock(T0)), 100).updates(), 50)
    clock = ManualClock(T0)
    two = await take(synthetic(9, clock, ClockSleep(clock), 100).updates(), 50)
    assert [(u.bid, u.ask, u.last, u.volume) for u in one] == [
        (u.bid, u.ask, u.last, u.volume) for u in two
    ]


async def test_a_synthetic_feed_that_falls_far_behind_restarts_its_schedule() -> None:
    clock = ManualClock(T0)
    sleep = ClockSleep(clock)
    feed = synthetic(1, clock, sleep, rate=10).updates()
    await take(feed, 1)
    clock.advance(timedelta(seconds=30))  # the consumer stalled for 30 s
    later = await take(feed, 2)
    assert [u.timestamp for u in later] == [
        T0 + timedelta(seconds=30),
        T0 + timedelta(seconds=30, milliseconds=100),
    ]
    await feed.aclose()


async def test_the_sample_replays_exactly_as_fast_as_possible() -> None:
    clock = ManualClock(T0 + timedelta(days=400))
    source = CsvSource(sample_file(), FeedKind.QUOTES, INSTRUMENTS)
    updates = [
        u async for u in ReplayFeed(source, Pacer(clock, ClockSleep(clock)), speed=0).updates()
    ]
    assert len(updates) == 360
    assert updates[0] == PriceUpdate(
        symbol="AAPL",
        bid=2_699_500,
        ask=2_699_700,
        bid_size=300,
        ask_size=900,
        last=2_699_700,
        volume=700,
        timestamp=T0,
        source="replay",
    )
    assert clock.now() == T0 + timedelta(days=400)  # nothing waited


async def test_replay_keeps_the_recorded_spacing_divided_by_the_speed() -> None:
    clock = ManualClock(T0 + timedelta(days=1))
    sleep = ClockSleep(clock)
    source = CsvSource(sample_file(), FeedKind.QUOTES, INSTRUMENTS)
    feed = ReplayFeed(source, Pacer(clock, sleep), speed=2, restamp=True)
    updates = await take(feed.updates(), 4)
    assert sleep.delays == [0.0, 0.25, 0.25, 0.25]
    start = T0 + timedelta(days=1)
    assert [u.timestamp for u in updates] == [
        start + timedelta(milliseconds=250 * n) for n in range(4)
    ]


async def test_a_repeating_replay_starts_over_and_needs_restamping() -> None:
    clock = ManualClock(T0)
    source = CsvSource(sample_file(), FeedKind.QUOTES, INSTRUMENTS)
    pacer = Pacer(clock, ClockSleep(clock))
    updates = await take(
        ReplayFeed(source, pacer, speed=0, restamp=True, repeat=True).updates(), 400
    )
    assert [u.symbol for u in updates[360:363]] == ["AAPL", "MSFT", "SPY"]
    assert updates[360].bid == updates[0].bid
    with pytest.raises(ValueError, match="repeat needs restamp"):
        ReplayFeed(source, pacer, repeat=True)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """Write ``rows`` (the first is the header) as a CSV file."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_bad_csv_row_names_the_file_and_the_row(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "trades.csv",
        [
            ["timestamp", "symbol", "price", "size"],
            ["2025-12-01T14:30:00Z", "AAPL", "269.95", "100"],
            ["2025-12-01T14:30:01Z", "AAPL", "269.95", "-5"],
        ],
    )
    with pytest.raises(ValidationError, match=r"^trades\.csv, row 2: size must not be negative$"):
        list(CsvSource(path, FeedKind.TRADES, INSTRUMENTS))


def test_a_csv_without_needed_columns_is_refused_before_any_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "q.csv", [["timestamp", "symbol", "bid"], ["x", "y", "z"]])
    with pytest.raises(ValidationError, match=r"^q\.csv, missing columns: ask, bid_size, ask_size"):
        list(CsvSource(path, FeedKind.QUOTES, INSTRUMENTS))


def test_bars_replay_into_the_same_candles(tmp_path: Path) -> None:
    header = ["timestamp", "symbol", "open", "high", "low", "close", "volume"]
    bars = [
        ["2025-12-01T14:30:00Z", "SPY", "670.00", "671.00", "669.50", "670.75", "1200"],
        ["2025-12-01T14:31:00Z", "SPY", "670.75", "670.80", "668.00", "668.25", "800"],
    ]
    source = open_source(
        write_csv(tmp_path / "bars.csv", [header, *bars]), FeedKind.BARS, INSTRUMENTS
    )
    aggregator = CandleAggregator([Interval.ONE_MINUTE, Interval.FIVE_MINUTES])
    for update in source:
        aggregator.apply(update)
    assert aggregator.drain() == [
        spy(Interval.ONE_MINUTE, 0, 6_700_000, 6_710_000, 6_695_000, 6_707_500, 1_200),
        spy(Interval.ONE_MINUTE, 1, 6_707_500, 6_708_000, 6_680_000, 6_682_500, 800),
        spy(Interval.FIVE_MINUTES, 0, 6_700_000, 6_710_000, 6_680_000, 6_682_500, 2_000),
    ]


def spy(interval: Interval, minutes: int, *ohlcv: int) -> Candle:
    """Return SPY's candle of ``interval`` starting ``minutes`` after T0."""
    open_, high, low, close, volume = ohlcv
    start = T0 + timedelta(minutes=minutes)
    return Candle(
        symbol="SPY",
        interval=interval,
        start=start,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
    )


def test_parquet_trades_with_decimal_prices_replay_exactly(tmp_path: Path) -> None:
    table = pa.table(
        {
            "timestamp": pa.array(
                [T0, T0 + timedelta(microseconds=1)], pa.timestamp("ns", tz="America/New_York")
            ),
            "symbol": ["AAPL", "MSFT"],
            "price": pa.array([Decimal("269.9512"), Decimal("480")], pa.decimal128(12, 4)),
            "size": pa.array([100, 7], pa.int64()),
            "venue": ["XNAS", "ARCX"],
        }
    )
    pq.write_table(table, tmp_path / "trades.parquet")
    updates = list(open_source(tmp_path / "trades.parquet", FeedKind.TRADES, INSTRUMENTS))
    assert [(u.symbol, u.last, u.volume, u.timestamp) for u in updates] == [
        ("AAPL", 2_699_512, 100, T0),
        ("MSFT", 4_800_000, 7, T0 + timedelta(microseconds=1)),
    ]


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"price": pa.array([269.95], pa.float64())},
            r"^t\.parquet, column price is double, which is not exact",
        ),
        (
            {"timestamp": pa.array([datetime(2025, 12, 1, 14, 30)], pa.timestamp("us"))},
            r"^t\.parquet, column timestamp has no time zone$",
        ),
        ({"size": pa.array([-1], pa.int64())}, r"^t\.parquet, row 1: size must not be negative$"),
    ],
)
def test_bad_parquet_files_are_refused(
    tmp_path: Path, columns: dict[str, pa.Array], message: str
) -> None:
    good = {
        "timestamp": pa.array([T0], pa.timestamp("us", tz="UTC")),
        "symbol": pa.array(["AAPL"]),
        "price": pa.array(["269.95"]),
        "size": pa.array([1], pa.int64()),
    }
    pq.write_table(pa.table({**good, **columns}), tmp_path / "t.parquet")
    with pytest.raises(ValidationError, match=message):
        list(ParquetSource(tmp_path / "t.parquet", FeedKind.TRADES, INSTRUMENTS))


def expected_minutes(symbol: str) -> list[Candle]:
    """Compute the sample's 1m candles for ``symbol`` straight from the file, independently."""
    groups: dict[datetime, list[tuple[int, int]]] = defaultdict(list)
    with sample_file().open("r", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["symbol"] == symbol:
                at = datetime.fromisoformat(row["timestamp"]).replace(second=0, microsecond=0)
                groups[at].append((int(Decimal(row["last"]) * 10_000), int(row["volume"])))
    return [
        Candle(
            symbol=symbol,
            interval=Interval.ONE_MINUTE,
            start=start,
            open=points[0][0],
            high=max(p for p, _ in points),
            low=min(p for p, _ in points),
            close=points[-1][0],
            volume=sum(v for _, v in points),
        )
        for start, points in sorted(groups.items())
    ]


@pytest.mark.parametrize("batches", [False, True], ids=["per-update", "batch-observers"])
async def test_the_hub_feeds_the_cache_the_candles_and_the_venue(
    tmp_path: Path, batches: bool
) -> None:
    clock = ManualClock(T0 + timedelta(days=2))
    hub = MarketDataHub()
    cache = LastPriceCache()
    store = await SqliteCandleStore.open(tmp_path / "agora.db")
    recorder = CandleRecorder(store, CandleAggregator())
    quotes: list[Quote] = []
    if batches:
        hub.subscribe_batches("cache", cache.on_prices)
        hub.subscribe_batches("candles", recorder.on_prices)
        hub.subscribe_batches("venue", quote_batch_observer(quotes.append, INSTRUMENTS))
    else:
        hub.subscribe("cache", cache.on_price)
        hub.subscribe("candles", recorder.on_price)
        hub.subscribe("venue", quote_observer(quotes.append, INSTRUMENTS))
    await hub.start()
    source = CsvSource(sample_file(), FeedKind.QUOTES, INSTRUMENTS)
    await hub.pump(ReplayFeed(source, Pacer(clock, ClockSleep(clock)), speed=0))
    await hub.stop()
    await recorder.stop()

    rows = list(source)
    last_aapl = [u for u in rows if u.symbol == "AAPL"][-1]
    assert cache.latest("AAPL") == last_aapl
    assert len(quotes) == 360
    assert quotes[-1].symbol == "SPY"
    stored = await store.query("AAPL", Interval.ONE_MINUTE)
    assert [c.start for c in stored] == [T0 + timedelta(minutes=n) for n in range(3)]
    assert stored == expected_minutes("AAPL")
    (hour,) = await store.query("MSFT", Interval.ONE_HOUR)
    minutes = expected_minutes("MSFT")
    assert (hour.open, hour.close) == (minutes[0].open, minutes[-1].close)
    assert hour.volume == sum(c.volume for c in minutes)
    assert hub.stats()["candles"].delivered == 360
    await store.close()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.parquet", b"not parquet at all", r"^cannot read broken\.parquet: "),
        ("latin.csv", b"timestamp,symbol,price,size\n\xff\n", r"^cannot read latin\.csv: "),
    ],
)
def test_unreadable_files_are_refused_clearly(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ValidationError, match=message):
        list(open_source(tmp_path / name, FeedKind.TRADES, INSTRUMENTS))
    with pytest.raises(ValidationError, match=r"^cannot read missing\.csv: "):
        list(open_source(tmp_path / "missing.csv", FeedKind.TRADES, INSTRUMENTS))
    with pytest.raises(ValidationError, match=r"^cannot replay notes\.txt: use a \.csv"):
        open_source(tmp_path / "notes.txt", FeedKind.TRADES, INSTRUMENTS)
