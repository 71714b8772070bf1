"""The bank test's checker, and the in-process harnesses it watches (one of them broken on purpose).

``BankChecker`` looks only at totals: whether every ledger invariant holds (conservation
included: each asset sums to zero over all ledger accounts) and, per account, cash, held cash and
buying power. It flags a failed invariant, a negative amount, and buying power that is not cash
minus what is held. It reads a ``Totals`` snapshot, taken either through the HTTP API of a real
server or straight from a store, so the same checker watches the live platform and the controls.

``LanelessService`` is the control that must be caught: the same ``AccountBook`` and ``Ledger``
code, but every command loads its accounts from the store, yields (as a handler awaiting I/O
would), applies itself to that copy and commits its changes. Two withdrawals can then both pass
the funds check against the same balance: exactly what the lane's one-command-at-a-time order
(``agora.orders.lanes``) exists to prevent.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agora.core.errors import AgoraError
from agora.core.ids import TimeOrderedIds
from agora.core.instruments import InstrumentRegistry
from agora.ledger import customer_cash, verify_ledger
from agora.marketdata.cache import LastPriceCache
from agora.orders.book import AccountBook
from agora.orders.commands import (
    ApplyReport,
    CancelOrder,
    Command,
    Deposit,
    OpenAccount,
    PlaceOrder,
    Withdraw,
)
from agora.orders.model import Order, OrderType, Report, ReportKind, Side, TimeInForce
from agora.orders.ports import PlatformControls
from agora.orders.snapshots import split_snapshot
from agora.risk import RiskEngine, RiskLimits, default_rules
from agora.storage.memory import MemoryStore


@dataclass(frozen=True, slots=True)
class AccountTotals:
    """One account's cash, held cash and buying power, in cents."""

    cash: int
    held: int
    buying_power: int


@dataclass(frozen=True, slots=True)
class Totals:
    """What the checker reads at one moment."""

    ledger_ok: bool
    broken_checks: tuple[str, ...]
    accounts: dict[str, AccountTotals]


@dataclass(frozen=True, slots=True)
class Violation:
    """One thing the checker flagged.

    ``ledger``: an invariant failed (conservation included); ``negative``: an amount below zero;
    ``torn``: one answer's buying power is not its cash minus its held cash.
    """

    kind: str
    text: str


@dataclass
class BankChecker:
    """Flags broken totals; counts what it looked at."""

    observations: int = 0
    violations: list[Violation] = field(default_factory=list)

    def observe(self, totals: Totals) -> list[Violation]:
        """Check one snapshot; record and return what is wrong with it."""
        self.observations += 1
        found = [Violation("ledger", name) for name in totals.broken_checks]
        if not totals.ledger_ok and not found:
            found.append(Violation("ledger", "ledger verify failed"))
        for account, t in totals.accounts.items():
            amounts = {"cash": t.cash, "held": t.held, "buying power": t.buying_power}
            for name, value in amounts.items():
                if value < 0:
                    found.append(Violation("negative", f"{account}: {name} {value}"))
            if t.buying_power != t.cash - t.held:
                text = f"{account}: buying power {t.buying_power} ≠ {t.cash} − {t.held}"
                found.append(Violation("torn", text))
        self.violations.extend(found)
        return found

    def of_kind(self, *kinds: str) -> list[Violation]:
        """The violations of the given kinds."""
        return [v for v in self.violations if v.kind in kinds]


async def store_totals(store: MemoryStore, accounts: Iterable[str]) -> Totals:
    """Totals straight from a store's committed records."""
    records = await store.ledger_records()
    report = verify_ledger(
        transfers=records.transfers,
        balances=records.balances,
        holds=records.holds,
        hold_needs=records.hold_needs,
        pending=records.pending,
    )
    shown = {}
    for account in accounts:
        cash = records.balances.get(customer_cash(account), 0)
        held = records.pending.get(customer_cash(account), 0)
        shown[account] = AccountTotals(cash, held, cash - held)
    broken = tuple(f"{c.name}: {c.detail}" for c in report.checks if not c.ok)
    return Totals(report.ok, broken, shown)


async def watch(
    read: Callable[[], Awaitable[Totals]], checker: BankChecker, stop: asyncio.Event
) -> None:
    """Read totals and check them over and over until ``stop`` is set, then once more."""
    while not stop.is_set():
        checker.observe(await read())
        await asyncio.sleep(0.001)
    checker.observe(await read())


class LanelessService:
    """The lane bypassed: load, yield, apply, commit, with nothing ordering the commands."""

    def __init__(self, store: MemoryStore, make_book: Callable[[], AccountBook]) -> None:
        self.store = store
        self.make_book = make_book
        self.clock_now: Callable[[], datetime] = lambda: datetime.now().astimezone()

    async def execute(self, command: Command) -> Any:
        """Apply ``command`` to a fresh copy of its account's state, then commit."""
        snapshot = await self.store.load_snapshot()
        book = self.make_book()
        book.restore(split_snapshot(snapshot, lambda account: account == command.account_id))
        await asyncio.sleep(0)  # a handler awaiting I/O: other commands run on the same state
        result = book.handle(command, self.clock_now())
        await self.store.commit(book.take_changes())
        return result


def make_book_factory(prices: LastPriceCache, limits: RiskLimits) -> Callable[[], AccountBook]:
    """Books the way bootstrap builds them (one id factory for all)."""
    ids = TimeOrderedIds()
    instruments = InstrumentRegistry.default()
    controls = PlatformControls(limits=limits)
    risk = RiskEngine(default_rules())

    def make() -> AccountBook:
        return AccountBook(
            risk=risk, prices=prices, instruments=instruments, ids=ids, platform=controls
        )

    return make


Execute = Callable[[Command], Awaitable[Any]]


@dataclass
class Workload:
    """Concurrent transfers and orders on a few accounts, through any ``execute``."""

    accounts: list[str]
    seed: int
    workers_per_account: int = 12
    steps: int = 60
    funding_cents: int = 200_000  # 2,000.00 each: withdrawals and buys run into it often
    counts: dict[str, int] = field(default_factory=dict)

    async def open(self, execute: Execute) -> None:
        """Open and fund every account."""
        for account in self.accounts:
            await execute(OpenAccount(account_id=account))
            await execute(
                Deposit(account_id=account, transfer_id="seed", amount=self.funding_cents)
            )

    async def run(self, execute: Execute) -> None:
        """Every worker at once, each a seeded sequence of steps."""
        await asyncio.gather(
            *(
                self._worker(execute, account, n)
                for account in self.accounts
                for n in range(self.workers_per_account)
            )
        )

    async def _worker(self, execute: Execute, account: str, number: int) -> None:
        rng = random.Random(f"{self.seed}:{account}:{number}")
        mine: list[Order] = []
        for step in range(self.steps):
            tag = f"{number}-{step}"
            command = self._next(rng, account, tag, mine)
            try:
                result = await execute(command)
            except AgoraError as refusal:
                self._count(f"{type(command).__name__}:{refusal.code}")
                continue
            self._count(f"{type(command).__name__}:ok")
            if isinstance(result, Order) and result.order_id not in {o.order_id for o in mine}:
                mine.append(result)

    def _next(self, rng: random.Random, account: str, tag: str, mine: list[Order]) -> Command:
        roll = rng.random()
        if roll < 0.25:
            return Deposit(account_id=account, transfer_id=f"d{tag}", amount=rng.randint(1, 30_000))
        if roll < 0.55:
            amount = rng.randint(1, 90_000)
            return Withdraw(account_id=account, transfer_id=f"w{tag}", amount=amount)
        if roll < 0.8 or not mine:
            return PlaceOrder(
                account_id=account,
                symbol="AAPL",
                side=Side.BUY,
                order_type=OrderType.LIMIT,
                time_in_force=TimeInForce.GTC,
                qty=rng.randint(1, 4),
                limit_price=rng.randint(190, 200) * 10_000,
                client_order_id=f"o{tag}",
            )
        order = mine.pop(rng.randrange(len(mine)))
        if roll < 0.9:
            return CancelOrder(account_id=account, order_id=order.order_id)
        fill = Report(
            kind=ReportKind.FILL,
            order_id=order.order_id,
            timestamp=order.created_at,
            fill_id=f"f{tag}",
            qty=order.qty,
            price=order.limit_price or 0,
        )
        return ApplyReport(account_id=account, report=fill)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
