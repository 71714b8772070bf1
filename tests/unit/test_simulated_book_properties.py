"""Invariants of the simulated book over random sequences of submits, quotes, cancels."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.execution.venues.reports import Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated import SimulatedBook
from tests.unit.test_simulated_book import FINAL, NOW

# -- property: invariants over random sequences ---------------------------------------------------

SYMBOLS = ("AAPL", "MSFT")
TICK = 100
prices = st.integers(97, 103).map(lambda p: p * TICK)
order_fields = st.fixed_dictionaries(
    {
        "symbol": st.sampled_from(SYMBOLS),
        "side": st.sampled_from(["buy", "sell"]),
        "order_type": st.sampled_from(["market", "limit", "limit", "stop", "stop_limit"]),
        "time_in_force": st.sampled_from(["day", "gtc", "ioc", "fok", "opg"]),
        "qty": st.integers(0, 40),
        "limit_price": prices,
        "stop_price": prices,
        "protection_price": st.none() | prices,
    }
)
steps = st.one_of(
    st.tuples(st.just("submit"), order_fields),
    st.tuples(
        st.just("quote"),
        st.tuples(st.sampled_from(SYMBOLS), prices, st.integers(0, 2), st.integers(0, 60), prices),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("replace"), st.tuples(st.integers(0, 50), st.integers(0, 40), prices)),
    st.tuples(st.just("expire"), st.none()),
)


def shaped(order_id: str, fields: dict[str, Any]) -> VenueOrder:
    """Return a well-formed order of the drawn type (qty may still be 0)."""
    kind = fields["order_type"]
    keep = {
        "limit_price": kind in ("limit", "stop_limit"),
        "stop_price": kind in ("stop", "stop_limit"),
    }
    tif = fields["time_in_force"]
    if kind.startswith("stop") and tif in ("ioc", "fok"):
        tif = "day"
    values = {k: v for k, v in fields.items() if keep.get(k, True)}
    values["time_in_force"] = tif
    return VenueOrder(order_id=order_id, **values)


class Checker:
    """Drive a book and check every report against the orders and quotes it was given."""

    def __init__(self) -> None:
        self.book = SimulatedBook()
        self.orders: dict[str, VenueOrder] = {}
        self.filled: dict[str, int] = {}
        self.final: set[str] = set()
        self.fill_ids: set[str] = set()
        self.quotes: dict[str, Quote] = {}
        self.taken: dict[tuple[str, str], int] = {}
        self.ids: list[str] = []
        self.pending: dict[str, VenueOrder] = {}

    def step(self, action: str, arg: Any) -> None:
        book, n = self.book, len(self.ids)
        if action == "submit":
            new = shaped(f"o{n}", arg)
            self.ids.append(new.order_id)
            self.pending[new.order_id] = new
            self.check(book.submit(new, NOW))
        elif action == "quote":
            symbol, bid, spread, size, last = arg
            q = Quote(
                symbol=symbol, bid=bid, ask=bid + spread * TICK, bid_size=size,
                ask_size=size // 2, last=last, timestamp=NOW,
            )  # fmt: skip
            self.quotes[symbol] = q
            self.taken[(symbol, "buy")] = self.taken[(symbol, "sell")] = 0
            reports = book.on_quote(q, NOW)
            self.check(reports)
            self.check_price_priority(symbol, reports)
        elif action == "cancel":
            self.check(book.cancel(self.ids[arg % n] if n else "none", NOW))
        elif action == "replace" and n:
            old = self.orders.get(self.ids[arg[0] % n]) or self.pending[self.ids[arg[0] % n]]
            new = msgspec_replace(old, order_id=f"o{n}", qty=arg[1], price=arg[2])
            self.ids.append(new.order_id)
            self.pending[new.order_id] = new
            self.check(book.replace(old.order_id, new, NOW))
        elif action == "expire":
            self.check(book.expire_day(NOW))
        self.check_state()

    def check(self, reports: list[VenueReport]) -> None:
        for report in reports:
            order_id = report.order_id
            if report.kind in ("cancel_rejected", "replace_rejected"):
                assert order_id in self.final or report.reason != "too_late"
                continue
            assert order_id not in self.final, f"report after final: {report}"
            if report.kind in ("accepted", "rejected"):
                assert order_id not in self.orders
                self.orders[order_id] = self.pending.pop(order_id)
                self.filled[order_id] = 0
            assert order_id in self.orders
            if report.kind == "fill":
                self.check_fill(self.orders[order_id], report)
            elif report.kind in FINAL:
                self.final.add(order_id)

    def check_fill(self, placed: VenueOrder, fill: VenueReport) -> None:
        assert fill.fill_id is not None
        assert fill.fill_id not in self.fill_ids
        self.fill_ids.add(fill.fill_id)
        assert fill.qty > 0
        self.filled[placed.order_id] += fill.qty
        assert self.filled[placed.order_id] <= placed.qty
        if self.filled[placed.order_id] == placed.qty:
            self.final.add(placed.order_id)
        q = self.quotes[placed.symbol]
        self.taken[(placed.symbol, placed.side)] += fill.qty
        if placed.side == "buy":
            assert fill.price == q.ask
            assert self.taken[(placed.symbol, "buy")] <= q.ask_size
            bound = placed.limit_price or placed.protection_price
            assert bound is None or fill.price <= bound
        else:
            assert fill.price == q.bid
            assert self.taken[(placed.symbol, "sell")] <= q.bid_size
            assert placed.limit_price is None or fill.price >= placed.limit_price

    def check_price_priority(self, symbol: str, reports: list[VenueReport]) -> None:
        """Check no order still resting had a better price than one this quote filled."""
        filled = [self.orders[r.order_id] for r in reports if r.kind == "fill"]
        for side in ("buy", "sell"):
            worst = max((rank(o) for o in filled if o.side == side), default=None)
            for resting in self.book.resting(symbol):
                if worst is not None and resting.order.side == side and resting.triggered:
                    assert rank(resting.order) >= worst, "a better price was passed over"

    def check_state(self) -> None:
        live = {i for i in self.orders if i not in self.final}
        assert set(self.book.open_order_ids()) == live
        for symbol in SYMBOLS:
            q = self.book.quote(symbol)
            for resting in self.book.resting(symbol):
                placed = resting.order
                assert resting.remaining == placed.qty - self.filled[placed.order_id]
                assert placed.time_in_force not in ("ioc", "fok")
                if q is None:
                    continue
                if not resting.triggered:
                    stop = placed.stop_price or 0
                    assert (q.last < stop) if placed.side == "buy" else (q.last > stop)
                elif placed.side == "buy" and q.ask_size:
                    bound = placed.limit_price or placed.protection_price
                    assert bound is not None
                    assert bound < q.ask, "marketable buy left resting"
                elif placed.side == "sell" and q.bid_size:
                    assert placed.limit_price is not None
                    assert placed.limit_price > q.bid, "marketable sell left resting"


def rank(placed: VenueOrder) -> int:
    """Return a sortable price rank (smaller is better) for a triggered order."""
    if placed.side == "buy":
        bound = placed.limit_price or placed.protection_price
        return -(bound if bound is not None else 10**9)
    return placed.limit_price if placed.limit_price is not None else -(10**9)


def msgspec_replace(old: VenueOrder, *, order_id: str, qty: int, price: int) -> VenueOrder:
    """Return ``old`` under a new id with a new qty and, for priced types, a new price."""
    moved: dict[str, Any] = {"order_id": order_id, "qty": qty}
    if old.limit_price is not None:
        moved["limit_price"] = price
    elif old.stop_price is not None:
        moved["stop_price"] = price
    return msgspec.structs.replace(old, **moved)


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, max_size=60))
def test_invariants_hold_over_random_sequences(sequence: list[tuple[str, Any]]) -> None:
    checker = Checker()
    for action, arg in sequence:
        checker.step(action, arg)


# -- property: full priority (price, then market before limit, then arrival) ----------------------


class PriorityChecker(Checker):
    """Also check each quote fills in full priority and passes over no better resting order."""

    def __init__(self) -> None:
        super().__init__()
        self.arrival: dict[str, int] = {}  # order id -> its arrival number (in its venue order id)

    def check(self, reports: list[VenueReport]) -> None:
        super().check(reports)
        for report in reports:
            if report.kind == "accepted" and report.venue_order_id is not None:
                self.arrival[report.order_id] = int(report.venue_order_id.rsplit("-", 1)[1])

    def check_price_priority(self, symbol: str, reports: list[VenueReport]) -> None:
        super().check_price_priority(symbol, reports)
        filled = [self.orders[r.order_id] for r in reports if r.kind == "fill"]
        for side in ("buy", "sell"):
            keys = [self.priority(o) for o in filled if o.side == side]
            assert keys == sorted(keys), "fills out of priority order"
            for resting in self.book.resting(symbol):
                if keys and resting.order.side == side and resting.triggered:
                    assert self.priority(resting.order) >= keys[-1], "a better order was passed"

    def priority(self, placed: VenueOrder) -> tuple[int, int, int]:
        """Return (price rank, 0 for market or 1 for limit, arrival): smaller fills first."""
        is_limit = 0 if placed.limit_price is None else 1
        return rank(placed), is_limit, self.arrival[placed.order_id]


# Few prices, many stops and quotes with little size, so resting orders often share a price bound
# with market orders and triggered stops.
tight_prices = st.integers(99, 101).map(lambda p: p * TICK)
tight_submit = st.tuples(
    st.just("submit"),
    st.fixed_dictionaries(
        {
            "symbol": st.just("AAPL"),
            "side": st.sampled_from(["buy", "sell"]),
            "order_type": st.sampled_from(["market", "limit", "stop", "stop_limit"]),
            "time_in_force": st.sampled_from(["day", "gtc"]),
            "qty": st.integers(1, 20),
            "limit_price": tight_prices,
            "stop_price": tight_prices,
            "protection_price": st.none() | tight_prices,
        }
    ),
)
tight_quote = st.tuples(
    st.just("quote"),
    st.tuples(
        st.just("AAPL"), tight_prices, st.integers(0, 2), st.sampled_from([0, 0, 15]), tight_prices
    ),
)
tight_steps = st.one_of(
    tight_submit,
    tight_submit,
    tight_submit,
    tight_quote,
    st.tuples(st.just("cancel"), st.integers(0, 50)),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(steps, max_size=60) | st.lists(tight_steps, min_size=20, max_size=60))
def test_quotes_fill_in_price_then_rank_then_arrival_order(
    sequence: list[tuple[str, Any]],
) -> None:
    checker = PriorityChecker()
    for action, arg in sequence:
        checker.step(action, arg)
