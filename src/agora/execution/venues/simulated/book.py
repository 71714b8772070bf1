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
from heapq import heappop, heappush

import msgspec

from agora.core.errors import ConflictError
from agora.execution.venues.reports import Quote, RestingOrder, VenueOrder, VenueReport
from agora.execution.venues.simulated.orders import (
    SESSION_TIMES_IN_FORCE,
    OrderHeap,
    Working,
    below,
    invalid_reason,
    keeps_priority,
    start_working,
)


class _Symbol:
    """Hold one symbol's latest quote, its unconsumed sizes and its resting orders."""

    __slots__ = (
        "ask",
        "ask_size",
        "bid",
        "bid_size",
        "buy_below",
        "buy_stops",
        "buys",
        "last",
        "quote",
        "sell_below",
        "sell_stops",
        "sells",
    )

    def __init__(self) -> None:
        self.quote: Quote | None = None
        self.bid = self.ask = self.bid_size = self.ask_size = 0
        # A buy (sell) is marketable when its priority is below buy_below (sell_below).
        self.buy_below = self.sell_below = 0
        self.last: int | None = None
        self.buys, self.sells = OrderHeap(), OrderHeap()
        self.buy_stops, self.sell_stops = OrderHeap(), OrderHeap()

    def store(self, quote: Quote) -> None:
        """Take ``quote`` as the new top of book; a side without a positive price offers nothing."""
        self.quote = quote
        bid, ask = self.bid, self.ask = quote.bid, quote.ask
        self.last = quote.last
        self.bid_size = quote.bid_size if bid > 0 and quote.bid_size > 0 else 0
        self.ask_size = quote.ask_size if ask > 0 and quote.ask_size > 0 else 0
        self.buy_below, self.sell_below = below(-ask), below(bid)

    def stop_reached(self, working: Working) -> bool:
        """Tell whether the last price has reached ``working``'s stop."""
        last = self.last
        if last is None:
            return False
        return working.stop_priority < below(last if working.is_buy else -last)


class SimulatedBook:
    """Match orders against the latest quote per symbol: the paper venue's fill model."""

    def __init__(self, venue: str = "sim") -> None:
        self.venue = venue
        self._symbols: dict[str, _Symbol] = {}
        self._live: dict[str, Working] = {}
        self._closed: set[str] = set()
        self._fill_count = 0
        self._order_count = 0

    # -- commands -------------------------------------------------------------------------------

    def submit(self, order: VenueOrder, now: datetime) -> list[VenueReport]:
        """Accept (or reject) ``order`` and fill what the current quote allows."""
        order_id = order.order_id
        if order_id in self._live or order_id in self._closed:
            raise ConflictError(
                f"order id {order_id!r} was already used", code="duplicate_order_id"
            )
        reason = invalid_reason(order)
        if reason is not None:
            self._closed.add(order_id)
            return [VenueReport(kind="rejected", order_id=order_id, timestamp=now, reason=reason)]
        reports: list[VenueReport] = []
        self._admit(order, now, reports)
        return reports

    def on_quote(self, quote: Quote, now: datetime) -> list[VenueReport]:
        """Store ``quote``, trigger stops on its last price and fill what became marketable."""
        book = self._symbols.get(quote.symbol)
        if book is None:
            book = self._symbols[quote.symbol] = _Symbol()
        book.store(quote)
        if book.buy_stops.entries:
            self._trigger(book.buy_stops, book.buys, below(quote.last))
        if book.sell_stops.entries:
            self._trigger(book.sell_stops, book.sells, below(-quote.last))
        reports: list[VenueReport] = []
        if book.ask_size and book.buys.entries:
            book.ask_size = self._match(
                book.buys, book.buy_below, book.ask, book.ask_size, now, reports
            )
        if book.bid_size and book.sells.entries:
            book.bid_size = self._match(
                book.sells, book.sell_below, book.bid, book.bid_size, now, reports
            )
        return reports

    def cancel(self, order_id: str, now: datetime) -> list[VenueReport]:
        """Cancel a resting order, or report why it cannot be canceled."""
        working = self._live.get(order_id)
        if working is None:
            reason = self._gone_reason(order_id)
            return [_report("cancel_rejected", order_id, now, reason=reason)]
        reports: list[VenueReport] = []
        self._close(working, "canceled", None, now, reports)
        return reports

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
        self._admit(new, now, reports)
        return reports

    def _amend(self, working: Working, new: VenueOrder, now: datetime) -> list[VenueReport]:
        """Replace in place: same queue position and venue order id, the new id and quantity."""
        old_id = working.order_id
        del self._live[old_id]
        self._closed.add(old_id)
        working.order, working.order_id = new, new.order_id
        working.time_in_force, working.remaining = new.time_in_force, new.qty
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

    def _admit(self, order: VenueOrder, now: datetime, reports: list[VenueReport]) -> None:
        self._order_count = seq = self._order_count + 1
        working = start_working(order, f"{self.venue}-ord-{seq}", seq)
        reports.append(
            VenueReport(
                kind="accepted",
                order_id=working.order_id,
                timestamp=now,
                venue_order_id=working.venue_order_id,
            )
        )
        book = self._symbols.get(order.symbol)
        if book is None:
            book = self._symbols[order.symbol] = _Symbol()
        if working.triggered:
            self._work(book, working, now, reports)
        elif book.stop_reached(working):
            working.triggered = True
            self._work(book, working, now, reports)
        else:
            self._live[working.order_id] = working
            (book.buy_stops if working.is_buy else book.sell_stops).push(
                working.stop_priority, working
            )

    def _work(
        self, book: _Symbol, working: Working, now: datetime, reports: list[VenueReport]
    ) -> None:
        if working.is_buy:
            available = book.ask_size if working.priority < book.buy_below else 0
        else:
            available = book.bid_size if working.priority < book.sell_below else 0
        time_in_force = working.time_in_force
        if time_in_force == "fok" and available < working.remaining:
            self._close(working, "canceled", "fok", now, reports)
            return
        if available:
            qty = available if available < working.remaining else working.remaining
            if working.is_buy:
                book.ask_size -= qty
                self._fill(working, qty, book.ask, now, reports)
            else:
                book.bid_size -= qty
                self._fill(working, qty, book.bid, now, reports)
            if not working.live:
                return
        if time_in_force == "ioc":
            self._close(working, "canceled", "ioc", now, reports)
            return
        self._live[working.order_id] = working
        working.resting = True
        heappush((book.buys if working.is_buy else book.sells).entries, (working.priority, working))

    def _trigger(self, stops: OrderHeap, side: OrderHeap, limit: int) -> None:
        entries = stops.entries
        while entries:
            working = entries[0][1]
            if working.live and working.stop_priority >= limit:
                return
            heappop(entries)
            if working.live:
                working.triggered = True
                side.push(working.priority, working)
            else:
                stops.dead -= 1

    def _match(
        self,
        side: OrderHeap,
        limit: int,
        price: int,
        size: int,
        now: datetime,
        reports: list[VenueReport],
    ) -> int:
        """Fill orders with priority below ``limit`` at ``price``, best first; return size left."""
        entries, live, closed, append = side.entries, self._live, self._closed, reports.append
        venue = self.venue
        while size > 0 and entries:
            priority, working = entries[0]
            if not working.live:
                heappop(entries)
                side.dead -= 1
                continue
            if priority >= limit:
                break
            remaining = working.remaining
            qty = remaining if remaining < size else size
            size -= qty
            working.remaining = remaining = remaining - qty
            self._fill_count = count = self._fill_count + 1
            fill_id = f"{venue}-{count}"
            order_id = working.order_id
            append(
                VenueReport(
                    kind="fill",
                    order_id=order_id,
                    timestamp=now,
                    fill_id=fill_id,
                    qty=qty,
                    price=price,
                    venue_order_id=working.venue_order_id,
                )
            )
            if not remaining:
                heappop(entries)
                working.live = False
                working.resting = False
                del live[order_id]
                closed.add(order_id)
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
                fill_id=f"{self.venue}-{self._fill_count}",
                qty=qty,
                price=price,
                venue_order_id=working.venue_order_id,
            )
        )
        if working.remaining == 0:
            working.live = False
            self._closed.add(working.order_id)

    def _close(
        self,
        working: Working,
        kind: str,
        reason: str | None,
        now: datetime,
        reports: list[VenueReport],
    ) -> None:
        if working.resting:
            self._heap_of(working).discard(working)
        working.live = False
        order_id = working.order_id
        self._live.pop(order_id, None)
        self._closed.add(order_id)
        reports.append(
            _report(kind, order_id, now, reason=reason, venue_order_id=working.venue_order_id)
        )

    def _heap_of(self, working: Working) -> OrderHeap:
        book = self._symbols[working.order.symbol]
        if working.triggered:
            return book.buys if working.is_buy else book.sells
        return book.buy_stops if working.is_buy else book.sell_stops

    def _gone_reason(self, order_id: str) -> str:
        return "too_late" if order_id in self._closed else "unknown_order"

    def _replace_refusal(self, old: VenueOrder, new: VenueOrder) -> str | None:
        if new.order_id in self._live or new.order_id in self._closed:
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
