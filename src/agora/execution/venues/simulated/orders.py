"""Working orders, the stop heap and the checks an order must pass to be worked.

An order's price bound is its limit, else its protection price, else no bound at all. Resting
orders are ranked by bound (highest buy, lowest sell), then market before limit, then arrival.
No packed priority is computed per order: each CPython int operation allocates, and packing
(key, rank, arrival) into one int was a measurable share of an add (docs/benchmarks.md). Stop
heaps, off the hot path, do pack: the stop price for buys, minus it for sells, above the
arrival number, smaller triggering first.
"""

from __future__ import annotations

from heapq import heapify, heappush

import msgspec

from agora.execution.venues.reports import VenueOrder

UNBOUNDED = 2**64
"""A price bound beyond any real price: market orders with no limit or protection."""
NO_FLOOR = -UNBOUNDED
"""The bound of a sell with no limit: it takes any bid."""

SEQ_BITS = 40
"""Arrival numbers below 2**40: the low bits of a stop's packed key."""
SEQ_SPAN = 1 << SEQ_BITS

SIDES = frozenset({"buy", "sell"})
ORDER_TYPES = frozenset({"market", "limit", "stop", "stop_limit"})
TIMES_IN_FORCE = frozenset({"day", "gtc", "ioc", "fok", "opg", "cls"})
SESSION_TIMES_IN_FORCE = frozenset({"day", "opg", "cls"})
IMMEDIATE = frozenset({"ioc", "fok"})
# order_type -> (needs a limit price, needs a stop price)
_NEEDS = {
    "market": (False, False),
    "limit": (True, False),
    "stop": (False, True),
    "stop_limit": (True, True),
}
_COMPACT_AFTER = 64


def stop_below(key: int) -> int:
    """Return the packed stop key under which a stop's key is at most ``key``."""
    return (key + 1) * SEQ_SPAN


class Working(msgspec.Struct, gc=False):
    """Hold the mutable state of one order the venue is working.

    ``is_limit`` ranks it after market orders of the same price bound. ``order_id`` is always
    ``order.order_id``, kept here so that a fill need not reach the order. Its arrival number is
    the tail of ``venue_order_id`` (see ``arrival``). It holds no reference back to its heap, so
    it can stay out of the cycle collector (``gc=False``).
    """

    order: VenueOrder
    order_id: str
    venue_order_id: str
    remaining: int
    is_buy: bool
    is_limit: bool
    triggered: bool
    live: bool = True


def bound_of(order: VenueOrder) -> int:
    """Return the price bound of a validated order: its limit, else its protection, else none."""
    limit = order.limit_price
    if limit is not None:
        return limit
    if order.side == "buy":
        protection = order.protection_price
        return UNBOUNDED if protection is None else protection
    return NO_FLOOR


def stop_key(order: VenueOrder, seq: int) -> int:
    """Return the key of a stop in its heap: smaller triggers first, then earlier arrival."""
    stop = order.stop_price or 0
    return (stop if order.side == "buy" else -stop) * SEQ_SPAN + seq


def arrival(working: Working) -> int:
    """Return the arrival number of ``working``, the tail of its venue order id."""
    # Parsed only to place a market order or a triggered stop among older orders of its level;
    # storing it would give every Working one more int that each fill has to free (a cache miss).
    return int(working.venue_order_id.rpartition("-")[2])


def ranks_before(first: Working, second: Working) -> bool:
    """Tell whether ``first`` goes ahead of ``second`` in a price level (same bound)."""
    if first.is_limit != second.is_limit:
        return second.is_limit
    return arrival(first) < arrival(second)


class OrderHeap:
    """Keep stop orders best first; removals are lazy and compacted when they pile up."""

    __slots__ = ("dead", "entries")

    def __init__(self) -> None:
        self.entries: list[tuple[int, Working]] = []
        self.dead = 0

    def push(self, priority: int, working: Working) -> None:
        """Add an order under ``priority`` (smaller is better)."""
        heappush(self.entries, (priority, working))

    def discard(self, working: Working) -> None:
        """Mark an order gone; its entry is dropped when it reaches the top or on compaction."""
        working.live = False
        self.dead += 1
        if self.dead > _COMPACT_AFTER and self.dead * 2 > len(self.entries):
            self.entries = [entry for entry in self.entries if entry[1].live]
            heapify(self.entries)
            self.dead = 0


def invalid_reason(order: VenueOrder) -> str | None:
    """Return why the venue refuses ``order``, or None when it can be worked."""
    time_in_force, qty, limit = order.time_in_force, order.qty, order.limit_price
    # One chain for the common case, a well-formed limit order: every check below costs.
    if (
        order.order_type == "limit"
        and order.side in SIDES
        and time_in_force in TIMES_IN_FORCE
        and type(qty) is int
        and qty > 0
        and order.symbol
        and type(limit) is int
        and limit > 0
        and order.stop_price is None
        and order.protection_price is None
    ):
        return None
    needs = _NEEDS.get(order.order_type)
    if (
        needs is None
        or order.side not in SIDES
        or time_in_force not in TIMES_IN_FORCE
        or (needs[1] and time_in_force in IMMEDIATE)
    ):
        return _shape_reason(order)
    return _field_reason(order, *needs)


def _field_reason(order: VenueOrder, needs_limit: bool, needs_stop: bool) -> str | None:
    qty = order.qty
    if type(qty) is not int or qty <= 0:
        return "invalid_qty"
    if not order.symbol:
        return "invalid_symbol"
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
