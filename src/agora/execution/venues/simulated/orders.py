"""Working orders, their priority heaps and the checks an order must pass to be worked.

Every heap orders entries by an integer key where smaller is better, so one loop serves both
sides: a buy's key is minus its price bound, a sell's key is its price bound, and an order is
marketable when its key is at most the threshold the quote sets (minus the ask, or the bid).
Stop heaps do the same with the stop price against the last price.
"""

from __future__ import annotations

from heapq import heapify, heappush

import msgspec

from agora.execution.venues.reports import VenueOrder

UNBOUNDED = 2**64
"""A price bound beyond any real price: market orders with no limit or protection."""

SEQ_BITS = 40
"""Arrival numbers below 2**40; the bit above holds the rank (market before limit)."""
KEY_SHIFT = SEQ_BITS + 1

SIDES = frozenset({"buy", "sell"})
ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
TIMES_IN_FORCE = frozenset({"day", "gtc", "ioc", "fok", "opg", "cls"})
SESSION_TIMES_IN_FORCE = frozenset({"day", "opg", "cls"})
_LIMIT_TYPES = frozenset({"limit", "stop_limit"})
_STOP_TYPES = frozenset({"stop", "stop_limit"})
_IMMEDIATE = frozenset({"ioc", "fok"})
# (side, order_type, time_in_force) -> (needs a limit price, needs a stop price)
_SHAPES = {
    (side, order_type, time_in_force): (order_type in _LIMIT_TYPES, order_type in _STOP_TYPES)
    for side in SIDES
    for order_type in ORDER_TYPES
    for time_in_force in TIMES_IN_FORCE
    if not (order_type in _STOP_TYPES and time_in_force in _IMMEDIATE)
}
_COMPACT_AFTER = 64


def below(key: int) -> int:
    """Return the packed priority under which an order's key is at most ``key``."""
    return (key + 1) << KEY_SHIFT


class Working(msgspec.Struct, gc=False):
    """Hold the mutable state of one order the venue is working.

    ``priority`` packs (key, rank, arrival) into one int so heaps compare a single number; the
    key is minus the price bound for buys and the price bound for sells. ``stop_priority`` does
    the same with the stop price (buys) or minus it (sells) against the last price. It holds no
    reference back to its heap, so it can stay out of the cycle collector (``gc=False``).
    """

    order: VenueOrder
    order_id: str
    venue_order_id: str
    time_in_force: str
    remaining: int
    is_buy: bool
    priority: int
    stop_priority: int
    triggered: bool
    live: bool = True
    resting: bool = False  # has an entry in one of its symbol's heaps


def start_working(order: VenueOrder, venue_order_id: str, seq: int) -> Working:
    """Return the working state of a validated order that arrived ``seq``-th."""
    limit, stop = order.limit_price, order.stop_price
    # Market and stop orders go ahead of limits at the same price bound.
    tail = seq if limit is None else seq | (1 << SEQ_BITS)
    is_buy = order.side == "buy"
    if is_buy:
        bound = limit if limit is not None else order.protection_price
        priority = (-(bound if bound is not None else UNBOUNDED) << KEY_SHIFT) | tail
    else:
        priority = ((limit if limit is not None else -UNBOUNDED) << KEY_SHIFT) | tail
    stop_key = 0 if stop is None else (stop if is_buy else -stop)
    stop_priority = (stop_key << KEY_SHIFT) | seq
    return Working(
        order, order.order_id, venue_order_id, order.time_in_force, order.qty, is_buy,
        priority, stop_priority, stop is None,
    )  # fmt: skip


class OrderHeap:
    """Keep working orders best first; removals are lazy and compacted when they pile up."""

    __slots__ = ("dead", "entries")

    def __init__(self) -> None:
        self.entries: list[tuple[int, Working]] = []
        self.dead = 0

    def push(self, priority: int, working: Working) -> None:
        """Add an order under ``priority`` (smaller is better)."""
        working.resting = True
        heappush(self.entries, (priority, working))

    def discard(self, working: Working) -> None:
        """Mark an order gone; its entry is dropped when it reaches the top or on compaction."""
        working.live = False
        working.resting = False
        self.dead += 1
        if self.dead > _COMPACT_AFTER and self.dead * 2 > len(self.entries):
            self.entries = [entry for entry in self.entries if entry[1].live]
            heapify(self.entries)
            self.dead = 0


def invalid_reason(order: VenueOrder) -> str | None:
    """Return why the venue refuses ``order``, or None when it can be worked."""
    shape = _SHAPES.get((order.side, order.order_type, order.time_in_force))
    if shape is None:
        return _shape_reason(order)
    qty = order.qty
    if type(qty) is not int or qty <= 0:
        return "invalid_qty"
    if not order.symbol:
        return "invalid_symbol"
    needs_limit, needs_stop = shape
    limit, stop = order.limit_price, order.stop_price
    if (type(limit) is not int or limit <= 0) if needs_limit else limit is not None:
        return _price_reason(limit, needs_limit, "limit_price")
    if (type(stop) is not int or stop <= 0) if needs_stop else stop is not None:
        return _price_reason(stop, needs_stop, "stop_price")
    protection = order.protection_price
    if protection is not None and (type(protection) is not int or protection <= 0):
        return "invalid_protection_price"
    return None


def _shape_reason(order: VenueOrder) -> str:
    if order.side not in SIDES:
        return "invalid_side"
    if order.order_type not in ORDER_TYPES:
        return "invalid_order_type"
    if order.time_in_force not in TIMES_IN_FORCE:
        return "invalid_time_in_force"
    return "time_in_force_not_supported"


def _price_reason(value: int | None, required: bool, name: str) -> str:
    if value is None:
        return f"missing_{name}"
    return f"invalid_{name}" if required else f"unexpected_{name}"


def keeps_priority(working: Working, new: VenueOrder) -> bool:
    """FIX: a replace keeps its place unless the price changes or the quantity goes up."""
    old = working.order
    return (
        new.order_type == old.order_type
        and new.limit_price == old.limit_price
        and new.stop_price == old.stop_price
        and new.protection_price == old.protection_price
        and new.qty <= working.remaining
    )
