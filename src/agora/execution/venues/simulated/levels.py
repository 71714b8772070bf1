"""A symbol's quote state and resting orders; triggered orders kept as price levels.

A level holds the orders of one price bound, market before limit, then oldest first, so filling
walks a deque and only an emptied level touches the heap of level keys. That heap holds a few
hundred ints where a heap of every order held tens of thousands of tuples, and popping it cost
most of a quote (see docs/benchmarks.md, `matching`). A level's key is its bound for sells and
minus its bound for buys, so the best level is the smallest key on both sides.
"""

from __future__ import annotations

from collections import deque
from heapq import heapify, heappush

from agora.execution.venues.reports import Quote
from agora.execution.venues.simulated.orders import OrderHeap, Working, ranks_before

_CHECK_SPACING = 64


class SideLevels:
    """Keep one side's triggered orders best level first, each level in time priority.

    Cancels are lazy: the order is marked dead and dropped when it reaches the front of its level,
    or when dead entries outnumber live ones and every level is compacted.
    """

    __slots__ = ("check_at", "dead", "is_buy", "keys", "levels")

    def __init__(self, is_buy: bool) -> None:
        self.is_buy = is_buy
        self.keys: list[int] = []  # a heap of level keys: minus the bound for buys
        self.levels: dict[int, deque[Working]] = {}  # by bound
        self.dead = 0
        self.check_at = _CHECK_SPACING  # counting entries costs O(levels): not on every cancel

    def push(self, working: Working, bound: int) -> None:
        """Queue ``working`` in level ``bound`` behind every order that ranks before it."""
        level = self.levels.get(bound)
        if level is None:
            self.open(working, bound)
        else:
            _insert(level, working)

    def open(self, working: Working, bound: int) -> None:
        """Start level ``bound`` with ``working``."""
        self.levels[bound] = deque((working,))
        heappush(self.keys, -bound if self.is_buy else bound)

    def discard(self, working: Working) -> None:
        """Mark ``working`` gone; its entry is dropped later (at the front, or on compaction)."""
        working.live = False
        self.dead += 1
        if self.dead >= self.check_at:
            self._compact_if_mostly_dead()

    def _compact_if_mostly_dead(self) -> None:
        entries = sum(len(level) for level in self.levels.values())
        if self.dead * 2 <= entries:
            self.check_at = max(entries // 2, self.dead + _CHECK_SPACING)
            return
        compacted: dict[int, deque[Working]] = {}
        for bound, level in self.levels.items():
            kept = deque(working for working in level if working.live)
            if kept:
                compacted[bound] = kept
        self.levels = compacted
        self.keys = [-bound for bound in compacted] if self.is_buy else list(compacted)
        self.dead, self.check_at = 0, _CHECK_SPACING
        heapify(self.keys)


def _insert(level: deque[Working], working: Working) -> None:
    """Put a market order or a triggered stop (it may rank before newer orders) in its place."""
    index = len(level)
    while index and ranks_before(working, level[index - 1]):
        index -= 1
    level.insert(index, working)


class SymbolBook:
    """Hold one symbol's latest quote, its unconsumed sizes and its resting orders."""

    __slots__ = (
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "buy_stops",
        "buys",
        "last",
        "quote",
        "sell_stops",
        "sells",
    )

    def __init__(self) -> None:
        self.quote: Quote | None = None
        self.bid = self.ask = self.bid_size = self.ask_size = 0
        self.last: int | None = None
        self.buys, self.sells = SideLevels(is_buy=True), SideLevels(is_buy=False)
        self.buy_stops, self.sell_stops = OrderHeap(), OrderHeap()

    def stop_reached(self, working: Working) -> bool:
        """Tell whether the last price has reached ``working``'s stop."""
        last, stop = self.last, working.order.stop_price
        if last is None or stop is None:
            return False
        return stop <= last if working.is_buy else stop >= last
