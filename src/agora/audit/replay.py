"""``agora replay``: orders, ledger balances and positions rebuilt from the audit log alone.

- Orders: the latest payload per order id, in outbox order, from every event that carries an
  order (``order.submitted``, ``order.updated``, ``order.filled``, ``order.cancel_requested``,
  ``order.replace_requested`` and the replaced order inside it, ``dead_letter``). Denied orders
  (``order.denied``) were never stored and are only counted.
- Balances: the *posted* balance of every ledger account, from deposits and withdrawals
  (``ledger.transfer``) and fills (``order.filled``: the fill's qty, price and charged fee; the
  cash a fill moved is the order's cumulative notional rounded half-even, less what its earlier
  fills moved, as the order model computes it). Pending holds are not rebuilt: no event carries
  a hold's id, amount, re-sizing or release.
- Positions: ``positions.model.replay`` over the fills.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec

from agora.audit.layout import AuditError, AuditLayout
from agora.audit.parquet import read_file
from agora.core.events import Event, EventType
from agora.core.instruments import InstrumentRegistry
from agora.core.money import CASH_SCALE, notional_cents, parse_units
from agora.ledger import customer_cash, customer_shares, external_bank, fee_income, venue_account
from agora.orders.model import Order
from agora.orders.ports import LaneSnapshot, OrderQuery
from agora.orders.views import order_payload
from agora.positions.model import Fill, Position, replay
from agora.positions.projector import all_positions, fill_from_event, fills_from_events
from agora.storage.ports import LedgerRecords

CURRENCY = "USD"
ORDER_EVENTS = frozenset(
    {
        EventType.ORDER_SUBMITTED,
        EventType.ORDER_UPDATED,
        EventType.ORDER_FILLED,
        EventType.ORDER_CANCEL_REQUESTED,
        EventType.ORDER_REPLACE_REQUESTED,
        EventType.DEAD_LETTER,
    }
)
_PAGE = 1_000

PositionKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Views:
    """Orders (API payloads by id), posted balances by ledger account, positions."""

    orders: dict[str, dict[str, Any]]
    balances: dict[str, int]
    positions: dict[PositionKey, Position]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What the audit log alone says the read models are."""

    views: Views
    events: int
    last_seq: int
    denied: int
    accounts: frozenset[str]


@dataclass(frozen=True, slots=True)
class Difference:
    """One field on which the rebuilt and the live views disagree."""

    view: str  # "order" | "balance" | "position"
    key: str
    field: str
    audit: str
    live: str


def log_events(layout: AuditLayout) -> list[tuple[int, Event]]:
    """Every event in the log, in outbox order, each once (raise AuditError on a bad file)."""
    by_seq: dict[int, Event] = {}
    for path in layout.parquet_files():
        for record in read_file(path):
            try:
                by_seq.setdefault(record.seq, record.event())
            except (ValueError, msgspec.ValidationError) as exc:
                raise AuditError(f"{path}: seq {record.seq} is not an event: {exc}") from exc
    return sorted(by_seq.items())


def rebuild(events: list[tuple[int, Event]], instruments: InstrumentRegistry) -> Rebuilt:
    """Rebuild the read models from events in outbox order."""
    plain = [event for _, event in events]
    fills = _unique(fills_from_events(plain, instruments))
    accounts = frozenset(e.account_id for e in plain if e.account_id is not None)
    return Rebuilt(
        views=Views(
            orders=rebuild_orders(plain),
            balances=rebuild_balances(plain, instruments),
            positions=replay(fills),
        ),
        events=len(events),
        last_seq=events[-1][0] if events else 0,
        denied=sum(1 for e in plain if e.type == EventType.ORDER_DENIED),
        accounts=accounts,
    )


def rebuild_orders(events: Iterable[Event]) -> dict[str, dict[str, Any]]:
    """The latest order payload per order id."""
    orders: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.type not in ORDER_EVENTS:
            continue
        nested = event.payload.get("replaces_order")
        for payload in (event.payload, nested):
            if isinstance(payload, dict):
                order_id = payload.get("order_id")
                if isinstance(order_id, str):
                    orders[order_id] = payload
    return orders


def rebuild_balances(events: Iterable[Event], instruments: InstrumentRegistry) -> dict[str, int]:
    """Posted balances of every ledger account that deposits, withdrawals and fills touch."""
    balances: dict[str, int] = defaultdict(int)
    notional: dict[str, int] = defaultdict(int)  # order id → Σ qty × price so far
    seen: set[str] = set()

    def move(debit: str, credit: str, amount: int) -> None:
        balances[debit] -= amount
        balances[credit] += amount

    for event in events:
        if event.type == EventType.TRANSFER_POSTED and event.account_id is not None:
            amount = parse_units(str(event.payload["amount"]), CASH_SCALE)
            account, bank = customer_cash(event.account_id, CURRENCY), external_bank(CURRENCY)
            if event.payload["kind"] == "deposit":
                move(bank, account, amount)
            else:
                move(account, bank, amount)
        elif event.type == EventType.ORDER_FILLED:
            fill = fill_from_event(event, instruments)
            if fill.key in seen:
                continue
            seen.add(fill.key)
            before = notional[fill.order_id]
            notional[fill.order_id] = after = before + fill.qty * fill.price
            cash = _cents(after, fill.qty_scale) - _cents(before, fill.qty_scale)
            _settle(fill, cash, move)
    return dict(balances)


def _settle(fill: Fill, cash: int, move: Any) -> None:
    """The postings of one fill, as ``orders.settlement.settle_fill`` makes them."""
    cash_account = customer_cash(fill.account_id, CURRENCY)
    shares_account = customer_shares(fill.account_id, fill.symbol)
    if fill.side == "buy":
        move(cash_account, venue_account(CURRENCY), cash)
        move(venue_account(fill.symbol), shares_account, fill.qty)
    else:
        move(shares_account, venue_account(fill.symbol), fill.qty)
        move(venue_account(CURRENCY), cash_account, cash)
    move(cash_account, fee_income(CURRENCY), fill.fee_cents)


def _cents(notional: int, qty_scale: int) -> int:
    return notional_cents(notional, qty_scale, 1, round_up=False)


def _unique(fills: list[Fill]) -> list[Fill]:
    seen: set[str] = set()
    unique = []
    for fill in fills:
        if fill.key not in seen:
            seen.add(fill.key)
            unique.append(fill)
    return unique


class LiveSource(Protocol):
    """The live store as replay reads it."""

    async def load_snapshot(self) -> LaneSnapshot:
        """Read the accounts (and what lanes rebuild from)."""
        ...

    async def list_orders(self, query: OrderQuery) -> list[Order]:
        """Return a page of an account's orders, newest first."""
        ...

    async def ledger_records(self) -> LedgerRecords:
        """Read every transfer, posted balance and hold."""
        ...

    async def documents(self, collection: str, prefix: str) -> list[tuple[str, bytes]]:
        """Read a read model's documents by key prefix."""
        ...


async def live_views(source: LiveSource, accounts: Iterable[str] = ()) -> Views:
    """Read the live orders, posted balances and positions from the store."""
    snapshot = await source.load_snapshot()
    orders: dict[str, dict[str, Any]] = {}
    for account_id in sorted({*accounts, *(a.account_id for a in snapshot.accounts)}):
        after = None
        while page := await source.list_orders(
            OrderQuery(account_id=account_id, after=after, limit=_PAGE)
        ):
            orders.update({o.order_id: order_payload(o) for o in page})
            after = page[-1].order_id
    records = await source.ledger_records()
    positions = {(p.account_id, p.symbol): p for p in await all_positions(source)}
    return Views(orders=orders, balances=dict(records.balances), positions=positions)


def compare(audit: Views, live: Views) -> list[Difference]:
    """Every field on which the views differ (a balance absent on one side counts as 0)."""
    differences: list[Difference] = []
    for order_id in sorted(audit.orders.keys() | live.orders.keys()):
        differences += _compare_fields(
            "order", order_id, audit.orders.get(order_id), live.orders.get(order_id)
        )
    for account in sorted(audit.balances.keys() | live.balances.keys()):
        ours, theirs = audit.balances.get(account, 0), live.balances.get(account, 0)
        if ours != theirs:
            differences.append(Difference("balance", account, "posted", str(ours), str(theirs)))
    for key in sorted(audit.positions.keys() | live.positions.keys()):
        ours_p, theirs_p = audit.positions.get(key), live.positions.get(key)
        differences += _compare_fields(
            "position",
            "|".join(key),
            None if ours_p is None else msgspec.structs.asdict(ours_p),
            None if theirs_p is None else msgspec.structs.asdict(theirs_p),
        )
    return differences


def _compare_fields(
    view: str, key: str, ours: dict[str, Any] | None, theirs: dict[str, Any] | None
) -> list[Difference]:
    if ours is None or theirs is None:
        shown = ("absent", "present") if ours is None else ("present", "absent")
        return [Difference(view, key, "*", *shown)]
    return [
        Difference(view, key, name, repr(ours.get(name)), repr(value))
        for name, value in theirs.items()
        if ours.get(name) != value
    ]
