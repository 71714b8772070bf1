"""Hypothesis-generated command sequences through the real lanes, against a serial replay.

``tests/unit/test_book_stateful.py`` checks the account book command by command, alone. What it
cannot see is the lane around it: many commands for several accounts in flight at once, batches
applied while the previous one commits, group commits, commits that fail (the batch and the one
behind it are dropped and the lane reloads from the store), orders loaded back from the store
after such a reload. This test drives all of that with generated steps and then demands:

- every command the lanes applied and committed gives the same answer when the committed
  commands are applied one by one, in the lanes' own order, to a fresh book (the lane is
  equivalent to serial application, and a failed batch leaves no trace);
- every answer other than a storage failure was committed (nothing acknowledged is missing);
- the store then holds exactly the replay's balances and holds, the ledger verifies, and lanes
  rebuilt from the store (a restart) hold the same balances.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agora.core.clock import ManualClock
from agora.core.errors import AgoraError, StorageError
from agora.core.ids import TimeOrderedIds
from agora.core.instruments import InstrumentRegistry
from agora.ledger import verify_ledger
from agora.marketdata.cache import LastPriceCache
from agora.orders.book import AccountBook, TransferResult
from agora.orders.commands import (
    ApplyReport,
    CancelOrder,
    Command,
    Deposit,
    OpenAccount,
    PlaceOrder,
    ReplaceOrder,
    Withdraw,
)
from agora.orders.lanes import LaneSettings, OrderService
from agora.orders.model import Order, OrderType, Report, ReportKind, Side, TimeInForce
from agora.orders.ports import PlatformControls
from agora.risk import RiskEngine, default_rules
from agora.storage.memory import MemoryStore
from tests.chaos.harness import env_int
from tests.mothers import LOOSE_LIMITS

ACCOUNTS = ("acc_seq_a", "acc_seq_b", "acc_seq_c")
PRICE = 2_000_000


@dataclass
class Applied:
    """One command as a lane's book applied it: the ids it drew and what it answered."""

    command: Command
    ids: list[str]
    outcome: tuple[Any, ...]


class RecordingIds:
    """Ids as the lanes draw them, grouped by the command being applied."""

    def __init__(self) -> None:
        self._inner = TimeOrderedIds()
        self.current: list[str] = []

    def new(self, prefix: str) -> str:
        made = self._inner.new(prefix)
        self.current.append(made)
        return made


class ReplayIds:
    """Hand out the ids a command drew in the lanes, in the same order."""

    def __init__(self) -> None:
        self.queue: list[str] = []

    def new(self, prefix: str) -> str:
        made = self.queue.pop(0)
        assert made.startswith(prefix), (made, prefix)
        return made


def outcome_of(result: Any) -> tuple[Any, ...]:
    """A comparable picture of an answer, taken at once (orders keep changing later)."""
    if isinstance(result, Order):
        return ("order", result.order_id, result.status, result.filled_qty, result.qty,
                result.hold_remaining)  # fmt: skip
    if isinstance(result, TransferResult):
        return ("transfer", result.transfer.transfer_id, result.cash)
    return ("other", type(result).__name__)


class RecordingBook(AccountBook):
    """An account book that logs every command it applies, in the order applied."""

    log: list[Applied]
    recording_ids: RecordingIds

    def handle(self, command: Command, now: datetime) -> Any:
        self.recording_ids.current = []
        try:
            result = super().handle(command, now)
        except AgoraError as refusal:
            self.log.append(Applied(command, self.recording_ids.current, ("refused", refusal.code)))
            raise
        except Exception as error:
            self.log.append(Applied(command, self.recording_ids.current, ("crash", repr(error))))
            raise
        self.log.append(Applied(command, self.recording_ids.current, outcome_of(result)))
        return result


class FlakyStore(MemoryStore):
    """A memory store whose n-th commits fail, for the n chosen."""

    def __init__(self, failing: set[int]) -> None:
        super().__init__()
        self.failing = failing
        self.commits = 0

    async def commit_frozen(self, batches: Sequence[Any]) -> None:
        self.commits += 1
        if self.commits in self.failing:
            raise StorageError("injected commit failure")
        await super().commit_frozen(batches)


@dataclass(frozen=True)
class Step:
    """A generated command: what, for whom, on which earlier order, after how many yields."""

    kind: str
    account: int
    amount: int
    ref: int  # index of an earlier "place" step (modulo how many there are)
    yields: int


STEPS = st.lists(
    st.builds(
        Step,
        kind=st.sampled_from(
            ["deposit", "withdraw", "buy", "buy", "sell", "cancel", "fill", "accept", "replace"]
        ),
        account=st.integers(0, len(ACCOUNTS) - 1),
        amount=st.integers(1, 60),
        ref=st.integers(0, 10_000),
        yields=st.integers(0, 3),
    ),
    min_size=1,
    max_size=60,
)


@dataclass
class Run:
    """The lanes under test and what they were asked and answered."""

    service: OrderService
    log: list[Applied]
    answers: dict[int, Any] = field(default_factory=dict)  # id(command) → result or error
    placed: list[asyncio.Future[Any]] = field(default_factory=list)


def _make_books(log: list[Applied], prices: LastPriceCache) -> tuple[RecordingIds, Any]:
    ids = RecordingIds()
    controls = PlatformControls(limits=LOOSE_LIMITS)
    risk = RiskEngine(default_rules())
    instruments = InstrumentRegistry.default()

    def make() -> AccountBook:
        book = RecordingBook(
            risk=risk, prices=prices, instruments=instruments, ids=ids, platform=controls
        )
        book.log, book.recording_ids = log, ids
        return book

    return ids, make


async def _command_for(run: Run, step: Step, number: int) -> Command | None:
    """Build a step's command; steps on an earlier order wait for it to be answered first."""
    account = ACCOUNTS[step.account]
    if step.kind in ("deposit", "withdraw"):
        kind = Deposit if step.kind == "deposit" else Withdraw
        return kind(account_id=account, transfer_id=f"t{number}", amount=step.amount * 37_000)
    if step.kind in ("buy", "sell"):
        return PlaceOrder(
            account_id=account, symbol="AAPL",
            side=Side.BUY if step.kind == "buy" else Side.SELL,
            order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC,
            qty=step.amount, limit_price=PRICE - (step.ref % 5) * 10_000,
            client_order_id=f"c{number % 7}" if step.ref % 3 == 0 else f"u{number}",
        )  # fmt: skip
    if not run.placed:
        return None
    done = await asyncio.wait({run.placed[step.ref % len(run.placed)]})
    placed = next(iter(done[0])).result() if not next(iter(done[0])).exception() else None
    if not isinstance(placed, Order):
        return None
    order_id, owner = placed.order_id, placed.account_id
    if step.kind == "cancel":
        return CancelOrder(account_id=owner, order_id=order_id)
    if step.kind == "replace":
        return ReplaceOrder(account_id=owner, order_id=order_id, qty=step.amount + 1)
    kind = ReportKind.FILL if step.kind == "fill" else ReportKind.ACCEPTED
    fill = {"fill_id": f"f{step.ref % 4}", "qty": min(step.amount, placed.qty),
            "price": placed.limit_price} if kind is ReportKind.FILL else {}  # fmt: skip
    report = Report(kind=kind, order_id=order_id, timestamp=placed.created_at, **fill)  # type: ignore[arg-type]
    return ApplyReport(account_id=owner, report=report)


async def _drive(run: Run, steps: list[Step]) -> None:
    async def one(step: Step, number: int, placed: asyncio.Future[Any] | None) -> None:
        for _ in range(step.yields):
            await asyncio.sleep(0)
        command = await _command_for(run, step, number)
        if command is None:
            if placed is not None:
                placed.set_result(None)
            return
        try:
            result = await run.service.execute(command)
        except AgoraError as error:
            result = error
        run.answers[id(command)] = (command, result)
        if placed is not None:
            placed.set_result(result)

    loop = asyncio.get_running_loop()
    tasks = []
    for number, step in enumerate(steps):
        placed = loop.create_future() if step.kind in ("buy", "sell") else None
        if placed is not None:
            run.placed.append(placed)
        tasks.append(one(step, number, placed))
    await asyncio.gather(*tasks)


def _replay(committed: list[Applied], prices: LastPriceCache, now: datetime) -> AccountBook:
    """Apply the committed commands one at a time to a fresh book; compare every answer."""
    ids = ReplayIds()
    book = AccountBook(
        risk=RiskEngine(default_rules()), prices=prices, instruments=InstrumentRegistry.default(),
        ids=ids, platform=PlatformControls(limits=LOOSE_LIMITS),
    )  # fmt: skip
    for applied in committed:
        ids.queue = list(applied.ids)
        try:
            outcome = outcome_of(book.handle(applied.command, now))
        except AgoraError as refusal:
            outcome = ("refused", refusal.code)
        assert outcome == applied.outcome, (applied.command, outcome, applied.outcome)
        assert not ids.queue, f"{applied.command} drew fewer ids than in the lane"
    return book


async def _check(steps: list[Step], failing: set[int]) -> None:
    clock = ManualClock()
    prices = LastPriceCache()
    prices.update("AAPL", PRICE, clock.now())
    store = FlakyStore(set())
    log: list[Applied] = []
    _, make_book = _make_books(log, prices)
    service = OrderService(
        store=store, make_book=make_book, clock=clock, settings=LaneSettings(lanes=2)
    )
    await service.start()
    run = Run(service, log)
    for account in ACCOUNTS:
        await service.execute(OpenAccount(account_id=account))
        await service.execute(Deposit(account_id=account, transfer_id="seed", amount=5_000_000))
    store.failing = {store.commits + n for n in failing}
    await _drive(run, steps)
    await service.stop()
    assert not [a for a in log if a.outcome[0] == "crash"], [
        a for a in log if a.outcome[0] == "crash"
    ]
    failed = {key for key, (_, answer) in run.answers.items() if isinstance(answer, StorageError)}
    committed = [a for a in log if id(a.command) not in failed]
    answered = {id(a.command) for a in committed}
    assert {key for key in run.answers if key not in failed} <= answered  # none acked uncommitted
    reference = _replay(committed, prices, clock.now())
    records = await store.ledger_records()
    posted = {a: reference.ledger.posted(a) for a in reference.ledger.accounts()}
    assert {a: b for a, b in records.balances.items() if b} == {
        a: b for a, b in posted.items() if b
    }
    held = {a: reference.ledger.pending(a) for a in reference.ledger.accounts()}
    assert {a: p for a, p in records.pending.items() if p} == {a: p for a, p in held.items() if p}
    report = verify_ledger(
        transfers=records.transfers, balances=records.balances, holds=records.holds,
        hold_needs=records.hold_needs, pending=records.pending,
    )  # fmt: skip
    assert report.ok, [c for c in report.checks if not c.ok]
    restarted = OrderService(store=store, make_book=make_book, clock=clock)
    await restarted.start()
    for account in reference.ledger.accounts():
        owner = account.split(":")[1]
        if owner in ACCOUNTS:
            lane = restarted.lane_for(owner)
            assert lane.book.ledger.posted(account) == reference.ledger.posted(account)
    await restarted.stop()


@settings(  # AGORA_LANE_EXAMPLES scales the long form (scripts/battery)
    max_examples=env_int("AGORA_LANE_EXAMPLES", 300),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(steps=STEPS, failing=st.sets(st.integers(1, 12), max_size=3))
def test_the_lanes_equal_a_serial_replay_of_what_they_committed(
    steps: list[Step], failing: set[int]
) -> None:
    asyncio.run(_check(steps, failing))


def test_a_run_with_failing_commits_still_replays() -> None:
    steps = [Step(kind, n % 3, 5 + n, n, n % 4) for n, kind in enumerate(
        ["buy", "deposit", "withdraw", "sell", "fill", "cancel", "replace", "accept"] * 4
    )]  # fmt: skip
    asyncio.run(_check(steps, {1, 3}))
