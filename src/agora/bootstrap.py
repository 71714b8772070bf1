"""The composition root: picks the adapters and wires the services. Nothing else reads config."""

from __future__ import annotations

from dataclasses import dataclass

from agora.config import Settings
from agora.core.clock import Clock, SystemClock
from agora.core.ids import IdFactory, TimeOrderedIds
from agora.core.instruments import InstrumentRegistry
from agora.marketdata.cache import LastPriceCache
from agora.observability import Metrics, TimedRiskEngine
from agora.orders.book import AccountBook
from agora.orders.commands import Deposit, OpenAccount
from agora.orders.lanes import OrderService
from agora.orders.ports import LaneStore, PlatformControls
from agora.risk import RiskEngine, default_rules
from agora.storage.memory import MemoryStore
from agora.storage.sqlite import SqliteStore

DEMO_ACCOUNT_ID = "acc_demo"


@dataclass(slots=True)
class Platform:
    """The running services of one process and what they share."""

    settings: Settings
    clock: Clock
    ids: IdFactory
    store: LaneStore
    prices: LastPriceCache
    instruments: InstrumentRegistry
    controls: PlatformControls
    orders: OrderService
    metrics: Metrics

    async def close(self) -> None:
        """Drain the lanes, commit, and close the store."""
        await self.orders.stop()
        await self.store.close()


async def build_platform(
    settings: Settings,
    *,
    store: LaneStore | None = None,
    clock: Clock | None = None,
    ids: IdFactory | None = None,
    prices: LastPriceCache | None = None,
) -> Platform:
    """Build and start the embedded platform: SQLite in the data folder unless a store is given."""
    if store is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = await SqliteStore.open(settings.database_path)
    clock = clock or SystemClock()
    ids = ids or TimeOrderedIds()
    prices = prices or LastPriceCache()
    instruments = InstrumentRegistry.default()
    controls = PlatformControls(limits=settings.risk)
    metrics = Metrics()
    risk = TimedRiskEngine(RiskEngine(default_rules()), metrics)

    def make_book() -> AccountBook:
        return AccountBook(
            risk=risk, prices=prices, instruments=instruments, ids=ids, platform=controls
        )

    service = OrderService(store=store, make_book=make_book, clock=clock, settings=settings.lanes)
    await service.start()
    return Platform(settings, clock, ids, store, prices, instruments, controls, service, metrics)


async def build_in_memory(settings: Settings | None = None, **overrides: object) -> Platform:
    """Build the platform on the in-memory store (unit tests, quick experiments)."""
    return await build_platform(settings or Settings(), store=MemoryStore(), **overrides)  # type: ignore[arg-type]


async def ensure_demo_account(platform: Platform) -> str:
    """Open and fund the demo trader's account once (idempotent by its transfer id)."""
    await platform.orders.execute(OpenAccount(account_id=DEMO_ACCOUNT_ID))
    await platform.orders.execute(
        Deposit(
            account_id=DEMO_ACCOUNT_ID,
            transfer_id="demo-funding",
            amount=platform.settings.demo_funding_cents,
        )
    )
    return DEMO_ACCOUNT_ID
