"""The paper venue as a venue: a ``SimulatedBook`` worked on one dedicated thread.

The thread, queue, lifecycle and ``order_state`` come from ``ThreadedVenue`` (see
``agora.execution.venues.history``). Knobs, all off by default:

- ``latency_seconds``: each order command waits this long on the venue thread before it is worked.
- ``reject_rate`` (seeded by ``seed``): the share of submits rejected ``random_reject`` before the
  book sees them.
- ``fees``: a ``FeeSchedule`` charged on every ``fill`` report (``VenueReport.fee_cents``).
- ``liquidity_fraction`` (0 < f ≤ 1): every incoming quote's sizes are scaled by f, rounded down,
  but to at least 1 share where the quote had size, before the book sees them; fills follow the
  scaled sizes, so orders larger than what is left fill in parts as quotes arrive. The fraction is
  taken as the decimal it was written as (0.29 is 29/100, not the nearest binary float), so the
  sizes are exact and the same on every run; it needs no seed.
- ``recorder``: a ``SessionRecorder`` that gets one record per command the venue thread works
  (the input as received, before any scaling, and the reports it produced, fees included),
  written before the reports go to the listener; the venue closes it when its thread ends.

Behaviour where the venue port is silent: a submit whose order id the venue already knows is
dropped (logged, no report): a resubmission never makes a second order, and a caller that waits
for it reconciles with ``order_state``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from fractions import Fraction

import msgspec

from agora.core.errors import ValidationError
from agora.execution.venues.history import (
    HISTORY_LIMIT,
    Cancel,
    ExpireDay,
    OnQuote,
    OrderCommand,
    Replace,
    Submit,
    ThreadedVenue,
)
from agora.execution.venues.replay_session import (
    CancelRecord,
    ExpireDayRecord,
    QuoteRecord,
    ReplaceRecord,
    SessionRecord,
    SessionRecorder,
    SubmitRecord,
)
from agora.execution.venues.reports import FeeSchedule, Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated.book import SimulatedBook

__all__ = ["HISTORY_LIMIT", "SimulatedVenue"]

log = logging.getLogger(__name__)

_NO_FEES = FeeSchedule()


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SimulatedVenue(ThreadedVenue):
    """Work a ``SimulatedBook`` on one dedicated thread and report through a listener."""

    def __init__(
        self,
        book: SimulatedBook | None = None,
        *,
        latency_seconds: float = 0.0,
        reject_rate: float = 0.0,
        seed: int = 0,
        clock: Callable[[], datetime] = _utc_now,
        history_limit: int = HISTORY_LIMIT,
        state_timeout_seconds: float = 10.0,
        fees: FeeSchedule = _NO_FEES,
        liquidity_fraction: float = 1.0,
        recorder: SessionRecorder | None = None,
    ) -> None:
        self._book = book if book is not None else SimulatedBook()
        super().__init__(
            self._book.venue,
            history_limit=history_limit,
            state_timeout_seconds=state_timeout_seconds,
        )
        self._latency = latency_seconds
        self._reject_rate = reject_rate
        self._random = random.Random(seed)
        self._clock = clock
        self._fees = fees
        self._liquidity = _fraction(liquidity_fraction)
        self._recorder = recorder

    def _execute(self, command: OrderCommand | OnQuote | ExpireDay) -> None:
        is_order = isinstance(command, Submit | Cancel | Replace)
        if is_order and self._latency > 0 and self._stopped.wait(self._latency):
            return
        try:
            reports, sizes = self._reports(command, self._clock())
        except Exception:  # a book bug: the command reports nothing, and is recorded so
            log.exception("venue %s failed on %r", self.name, command)
            reports, sizes = [], {}
        if self._fees.charges:
            reports = self._charged(reports)
        if self._recorder is not None:
            self._record(_record_of(command, reports))
        self._emit(reports, sizes)

    def _reports(
        self, command: OrderCommand | OnQuote | ExpireDay, now: datetime
    ) -> tuple[list[VenueReport], Mapping[str, int]]:
        book = self._book
        match command:
            case Submit(order):
                return self._submit(order, now), {order.order_id: order.qty}
            case Cancel(order_id):
                return book.cancel(order_id, now), {}
            case Replace(order_id, new):
                return book.replace(order_id, new, now), {new.order_id: new.qty}
            case OnQuote(quote):
                return book.on_quote(self._scaled(quote), now), {}
            case ExpireDay():
                return book.expire_day(now), {}

    def _submit(self, order: VenueOrder, now: datetime) -> list[VenueReport]:
        if order.order_id in self._history:
            log.warning("venue %s dropped a resubmitted order %s", self.name, order.order_id)
            return []
        if self._reject_rate > 0 and self._random.random() < self._reject_rate:
            report = VenueReport(
                kind="rejected", order_id=order.order_id, timestamp=now, reason="random_reject"
            )
            return [report]
        return self._book.submit(order, now)

    def _charged(self, reports: list[VenueReport]) -> list[VenueReport]:
        fee_cents = self._fees.fee_cents
        return [
            msgspec.structs.replace(report, fee_cents=fee_cents(report.qty, report.price))
            if report.kind == "fill"
            else report
            for report in reports
        ]

    def _scaled(self, quote: Quote) -> Quote:
        fraction = self._liquidity
        if fraction == 1:
            return quote
        return msgspec.structs.replace(
            quote,
            bid_size=_scale(quote.bid_size, fraction),
            ask_size=_scale(quote.ask_size, fraction),
        )

    def _record(self, record: SessionRecord) -> None:
        assert self._recorder is not None
        try:
            self._recorder.write(record)
        except Exception:
            log.exception("venue %s could not record %r", self.name, record)

    def _finish(self) -> None:
        if self._recorder is not None:
            self._recorder.close()


def _fraction(value: float) -> Fraction:
    fraction = Fraction(str(value))  # the decimal as written, not the binary float
    if not 0 < fraction <= 1:
        raise ValidationError(
            f"liquidity_fraction must be in (0, 1], got {value!r}", code="invalid_liquidity"
        )
    return fraction


def _scale(size: int, fraction: Fraction) -> int:
    if size <= 0:
        return size
    return max(1, size * fraction.numerator // fraction.denominator)


def _record_of(
    command: OrderCommand | OnQuote | ExpireDay, reports: list[VenueReport]
) -> SessionRecord:
    played = tuple(reports)
    match command:
        case Submit(order):
            return SubmitRecord(order=order, reports=played)
        case Cancel(order_id):
            return CancelRecord(order_id=order_id, reports=played)
        case Replace(order_id, new):
            return ReplaceRecord(order_id=order_id, new=new, reports=played)
        case OnQuote(quote):
            return QuoteRecord(symbol=quote.symbol, quote=quote, reports=played)
        case ExpireDay():
            return ExpireDayRecord(reports=played)
