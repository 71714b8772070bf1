"""The paper venue's matching: orders fill against the latest quote of their symbol.

Behaviour where the venue spec is silent:

- ``opg`` and ``cls`` orders are worked like ``day`` orders (no auction yet): they fill as the
  quote allows and expire at ``expire_day``.
- A stop whose stop price the last price has already reached when it arrives triggers at once.
  Stops with ``ioc`` or ``fok`` are rejected (``time_in_force_not_supported``).
- A market buy with a protection price is ranked as a limit at that price; at the same price
  bound market (and triggered stop) orders go ahead of limits, then arrival order. A triggered
  stop keeps the time priority of its arrival.
- Quote sizes are consumed by fills until the next quote replaces them (no carry-over). Resting
  orders fill in priority order only on ``on_quote``; an arriving order takes what is left of the
  current quote at once. A quote side with a non-positive price offers no liquidity; ``quote()``
  shows the sizes fills have not yet consumed.
- Rejected orders count as final: cancelling one answers ``too_late``. Triggering a stop sends no
  report (there is no report kind for it).
- A replace keeps its time priority when its type and prices are unchanged and its quantity does
  not go up (FIX); otherwise it queues anew.
- Reusing an order id is a caller bug and raises ``ConflictError``; a replace naming a new id that
  is already known is refused with ``duplicate_order_id``.
"""

from __future__ import annotations

from datetime import datetime
from heapq import heappop

import msgspec

from agora.core.errors import ConflictError
from agora.execution.venues.reports import Quote, RestingOrder, VenueOrder, VenueReport
from agora.execution.venues.simulated.levels import SideLevels, SymbolBook
from agora.execution.venues.simulated.orders import (
    IMMEDIATE,
    SESSION_TIMES_IN_FORCE,
    OrderHeap,
    Working,
    bound_of,
    invalid_reason,
    keeps_priority,
    stop_below,
    stop_key,
)


class SimulatedBook:
    """Match orders against the latest quote per symbol: the paper venue's fill model."""

    def __init__(self, venue: str = "sim") -> None:
        self.venue = venue
        self._symbols: dict[str, SymbolBook] = {}
        self._live: dict[str, Working] = {}
        # Every id ever submitted (live or final): one lookup tells a new id from a reused one.
        self._known: set[str] = set()
        self._fill_count = 0
        self._order_count = 0
        self._fill_prefix, self._order_prefix = f"{venue}-", f"{venue}-ord-"

    # -- commands -------------------------------------------------------------------------------

    def submit(self, order: VenueOrder, now: datetime) -> list[VenueReport]:
        """Accept (or reject) ``order`` and fill what the current quote allows."""
        order_id, known = order.order_id, self._known
        if order_id in known:
            raise ConflictError(
                f"order id {order_id!r} was already used", code="duplicate_order_id"
            )
        known.add(order_id)
        reason = invalid_reason(order)
        if reason is not None:
            return [VenueReport(kind="rejected", order_id=order_id, timestamp=now, reason=reason)]
        return self._admit(order, now, [])

    def on_quote(self, quote: Quote, now: datetime) -> list[VenueReport]:
        """Store ``quote``, trigger stops on its last price and fill what became marketable."""
        book = self._symbols.get(quote.symbol) or self._new_book(quote.symbol)
        book.quote, book.last = quote, quote.last
        bid, ask = book.bid, book.ask = quote.bid, quote.ask
        # A side without a positive price offers nothing.
        book.bid_size = quote.bid_size if bid > 0 and quote.bid_size > 0 else 0
        book.ask_size = quote.ask_size if ask > 0 and quote.ask_size > 0 else 0
        if book.buy_stops.entries:
            self._trigger(book.buy_stops, book.buys, stop_below(quote.last))
        if book.sell_stops.entries:
            self._trigger(book.sell_stops, book.sells, stop_below(-quote.last))
        reports: list[VenueReport] = []
        # Most quotes cross no resting level: look at the best key before calling _match.
        buys, sells = book.buys.keys, book.sells.keys
        if book.ask_size and buys and buys[0] <= -ask:
            book.ask_size = self._match(book.buys, -ask, ask, book.ask_size, now, reports)
        if book.bid_size and sells and sells[0] <= bid:
            book.bid_size = self._match(book.sells, bid, bid, book.bid_size, now, reports)
        return reports

    def cancel(self, order_id: str, now: datetime) -> list[VenueReport]:
        """Cancel a resting order, or report why it cannot be canceled."""
        working = self._live.pop(order_id, None)
        if working is None:
            reason = self._gone_reason(order_id)
            return [_report("cancel_rejected", order_id, now, reason=reason)]
        self._heap_of(working).discard(working)
        venue_id = working.venue_order_id
        return [
            VenueReport(kind="canceled", order_id=order_id, timestamp=now, venue_order_id=venue_id)
        ]

    def replace(self, order_id: str, new: VenueOrder, now: datetime) -> list[VenueReport]:
        """Put ``new`` in place of a resting order, with new time priority."""
        working = self._live.get(order_id)
        if working is None:
            reason: str | None = self._gone_reason(order_id)
        else:
            reason = self._replace_refusal(working.order, new)
        if working is None or reason is not None:
            return [_report("replace_rejected", order_id, now, reason=reason)]
        if keeps_priority(working, new):
            return self._amend(working, new, now)
        reports: list[VenueReport] = []
        self._close(working, "replaced", None, now, reports)
        self._known.add(new.order_id)
        return self._admit(new, now, reports)

    def _amend(self, working: Working, new: VenueOrder, now: datetime) -> list[VenueReport]:
        """Replace in place: same queue position and venue order id, the new id and quantity."""
        old_id = working.order_id
        del self._live[old_id]
        self._known.add(new.order_id)
        working.order, working.order_id = new, new.order_id
        working.remaining = new.qty
        self._live[new.order_id] = working
        venue_id = working.venue_order_id
        return [
            _report("replaced", old_id, now, venue_order_id=venue_id),
            _report("accepted", new.order_id, now, venue_order_id=venue_id),
        ]

    def expire_day(self, now: datetime) -> list[VenueReport]:
        """Expire every resting day, opg and cls order; gtc orders stay."""
        session = [
            working
            for working in self._live.values()
            if working.order.time_in_force in SESSION_TIMES_IN_FORCE
        ]
        reports: list[VenueReport] = []
        for working in session:
            self._close(working, "expired", None, now, reports)
        return reports

    # -- views ----------------------------------------------------------------------------------

    def quote(self, symbol: str) -> Quote | None:
        """Return the latest quote for ``symbol`` with the sizes fills have not consumed."""
        book = self._symbols.get(symbol)
        if book is None or book.quote is None:
            return None
        return msgspec.structs.replace(book.quote, bid_size=book.bid_size, ask_size=book.ask_size)

    def resting(self, symbol: str) -> list[RestingOrder]:
        """Return the orders still worked for ``symbol``, in arrival order."""
        return [
            RestingOrder(
                order=working.order,
                venue_order_id=working.venue_order_id,
                remaining=working.remaining,
                triggered=working.triggered,
            )
            for working in self._live.values()
            if working.order.symbol == symbol
        ]

    def open_order_ids(self) -> list[str]:
        """Return the ids of every order still worked, in arrival order."""
        return list(self._live)

    # -- internals ------------------------------------------------------------------------------

    def _new_book(self, symbol: str) -> SymbolBook:
        """Start keeping ``symbol``'s quote and orders."""
        book = self._symbols[symbol] = SymbolBook()
        return book

    def _admit(
        self, order: VenueOrder, now: datetime, reports: list[VenueReport]
    ) -> list[VenueReport]:
        """Accept ``order``, fill what is left of the quote, then rest it (or close it)."""
        self._order_count = seq = self._order_count + 1
        order_id, venue_id = order.order_id, f"{self._order_prefix}{seq}"
        limit, is_buy, triggered = order.limit_price, order.side == "buy", order.stop_price is None
        working = Working(
            order, order_id, venue_id, order.qty, is_buy, limit is not None, triggered
        )
        reports.append(
            VenueReport(kind="accepted", order_id=order_id, timestamp=now, venue_order_id=venue_id)
        )
        book = self._symbols.get(order.symbol) or self._new_book(order.symbol)
        if not triggered and self._stop_waits(book, working, seq):
            return reports
        bound = limit if limit is not None else bound_of(order)
        if is_buy:
            available, side = book.ask_size if bound >= book.ask else 0, book.buys
        else:
            available, side = book.bid_size if bound <= book.bid else 0, book.sells
        # Most arrivals cannot trade and are not ioc/fok: they go straight to their level.
        if (available or order.time_in_force in IMMEDIATE) and not self._take(
            book, working, available, now, reports
        ):
            return reports
        self._live[order_id] = working
        level = side.levels.get(bound)
        if level is not None and limit is not None:
            level.append(working)  # it arrived last, and limits rank last: the back is its place
        else:
            side.push(working, bound)
        return reports

    def _stop_waits(self, book: SymbolBook, working: Working, seq: int) -> bool:
        """Rest an arriving stop in its heap, or trigger it if the last price has reached it."""
        if book.stop_reached(working):
            working.triggered = True
            return False
        self._live[working.order_id] = working
        stops = book.buy_stops if working.is_buy else book.sell_stops
        stops.push(stop_key(working.order, seq), working)
        return True

    def _take(
        self,
        book: SymbolBook,
        working: Working,
        available: int,
        now: datetime,
        reports: list[VenueReport],
    ) -> bool:
        """Apply fok, fill up to ``available``, apply ioc; tell whether the order still rests."""
        time_in_force = working.order.time_in_force
        if time_in_force == "fok" and available < working.remaining:
            self._close(working, "canceled", "fok", now, reports)
            return False
        if available:
            qty = available if available < working.remaining else working.remaining
            if working.is_buy:
                book.ask_size -= qty
                self._fill(working, qty, book.ask, now, reports)
            else:
                book.bid_size -= qty
                self._fill(working, qty, book.bid, now, reports)
            if not working.live:
                return False
        if time_in_force == "ioc":
            self._close(working, "canceled", "ioc", now, reports)
            return False
        return True

    def _trigger(self, stops: OrderHeap, side: SideLevels, limit: int) -> None:
        entries = stops.entries
        while entries:
            key, working = entries[0]
            if working.live and key >= limit:
                return
            heappop(entries)
            if working.live:
                working.triggered = True
                side.push(working, bound_of(working.order))
            else:
                stops.dead -= 1

    def _match(
        self,
        side: SideLevels,
        last_key: int,
        price: int,
        size: int,
        now: datetime,
        reports: list[VenueReport],
    ) -> int:
        """Fill orders on levels keyed up to ``last_key`` at ``price``; return the size left."""
        keys, levels, live, append = side.keys, side.levels, self._live, reports.append
        prefix, count, is_buy = self._fill_prefix, self._fill_count, side.is_buy
        while size and keys and keys[0] <= last_key:
            bound = -keys[0] if is_buy else keys[0]
            level = levels[bound]
            popleft = level.popleft
            while size and level:
                working = popleft()
                if not working.live:
                    side.dead -= 1
                    continue
                qty, order_id = working.remaining, working.order_id
                if qty > size:
                    working.remaining, qty, size = qty - size, size, 0
                    level.appendleft(working)
                else:
                    # Done: out of its level and ``_live``, nothing refers to it any more, so
                    # its remaining and live flag are not worth updating.
                    size -= qty
                    del live[order_id]
                count += 1
                append(
                    VenueReport(
                        kind="fill",
                        order_id=order_id,
                        timestamp=now,
                        fill_id=f"{prefix}{count}",
                        qty=qty,
                        price=price,
                        venue_order_id=working.venue_order_id,
                    )
                )
            if not level:
                heappop(keys)
                del levels[bound]
        self._fill_count = count
        return size

    def _fill(
        self, working: Working, qty: int, price: int, now: datetime, reports: list[VenueReport]
    ) -> None:
        """Fill an order that is not resting in a heap (it is arriving now)."""
        self._fill_count += 1
        working.remaining -= qty
        reports.append(
            VenueReport(
                kind="fill",
                order_id=working.order_id,
                timestamp=now,
                fill_id=f"{self._fill_prefix}{self._fill_count}",
                qty=qty,
                price=price,
                venue_order_id=working.venue_order_id,
            )
        )
        if working.remaining == 0:
            working.live = False

    def _close(
        self,
        working: Working,
        kind: str,
        reason: str | None,
        now: datetime,
        reports: list[VenueReport],
    ) -> None:
        order_id = working.order_id
        # Only orders in ``_live`` have an entry in one of their symbol's heaps.
        if self._live.pop(order_id, None) is not None:
            self._heap_of(working).discard(working)
        working.live = False
        reports.append(
            _report(kind, order_id, now, reason=reason, venue_order_id=working.venue_order_id)
        )

    def _heap_of(self, working: Working) -> SideLevels | OrderHeap:
        book = self._symbols[working.order.symbol]
        if working.triggered:
            return book.buys if working.is_buy else book.sells
        return book.buy_stops if working.is_buy else book.sell_stops

    def _gone_reason(self, order_id: str) -> str:
        # Only asked about ids that are not live, so a known one has reached a final state.
        return "too_late" if order_id in self._known else "unknown_order"

    def _replace_refusal(self, old: VenueOrder, new: VenueOrder) -> str | None:
        if new.order_id in self._known:
            return "duplicate_order_id"
        if new.symbol != old.symbol:
            return "symbol_mismatch"
        if new.side != old.side:
            return "side_mismatch"
        return invalid_reason(new)


def _report(
    kind: str,
    order_id: str,
    now: datetime,
    *,
    reason: str | None = None,
    venue_order_id: str | None = None,
) -> VenueReport:
    return VenueReport(
        kind=kind, order_id=order_id, timestamp=now, reason=reason, venue_order_id=venue_order_id
    )
