"""The replay venue: a recorded session played back, so a run can be reproduced exactly.

``ReplayVenue`` keeps the venue port (its own thread, ``order_state``, ``fail`` / ``recover``, and
the start / stop semantics of ``ThreadedVenue``) and takes ``on_quote`` and ``expire_day`` as
market events. It does not match orders: each input it works is compared with the next recorded
command of the session (``agora.execution.venues.replay_session``), in the one order the recording
venue's thread worked them, and on a match it emits that command's recorded reports (timestamps,
prices, quantities, fill ids, fees and reasons as recorded).

Matching:

- submit: the next record is a submit whose order has the same symbol, side, type, time in
  force, quantity and limit, stop and protection prices; a quote: the next record is a quote for
  the same symbol; expire_day: the next record is one; cancel / replace: the next record is one
  for the paired order (and, for a replace, an equal new order).
- Order ids may differ between the recorded run and this one. A recorded id and a live id are
  paired, one to one, when a matching submit, cancel or replace first names them; reports go out
  with the live ids. An input naming an id already paired with another one does not match.

It never guesses. An input that does not match is answered without touching the session, and the
record stays the next one expected, so later inputs that do match still replay: a submit is
``rejected`` (``replay_diverged``), a cancel or replace gets ``cancel_rejected`` /
``replace_rejected`` with that reason, a market event is ignored, and each logs a warning. Once
every record has replayed, order commands are refused the same way with ``replay_exhausted`` and
market events are ignored. A submit whose id the venue already knows is dropped unanswered when
it does not match (a report would corrupt that order's history), as the simulated venue does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import msgspec

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
    Session,
    SessionRecord,
    SubmitRecord,
)
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport

__all__ = ["ReplayVenue"]

log = logging.getLogger(__name__)

DIVERGED = "replay_diverged"
EXHAUSTED = "replay_exhausted"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _IdPairs:
    """Pair recorded order ids with live ones, one to one."""

    def __init__(self) -> None:
        self._live: dict[str, str] = {}
        self._recorded: dict[str, str] = {}

    def fit(self, recorded: str, live: str) -> bool:
        """Tell whether the two ids are paired with each other, or both still unpaired."""
        return (
            self._live.get(recorded, live) == live
            and self._recorded.get(live, recorded) == recorded
        )

    def pair(self, recorded: str, live: str) -> None:
        """Pair ``recorded`` with ``live``."""
        self._live[recorded] = live
        self._recorded[live] = recorded

    def live(self, recorded: str) -> str:
        """Return the live id paired with ``recorded`` (itself if unpaired)."""
        return self._live.get(recorded, recorded)


class ReplayVenue(ThreadedVenue):
    """Play a recorded venue session back on one dedicated thread, for exact reproduction."""

    def __init__(
        self,
        session: Session,
        *,
        name: str = "replay",
        clock: Callable[[], datetime] = _utc_now,
        history_limit: int = HISTORY_LIMIT,
        state_timeout_seconds: float = 10.0,
    ) -> None:
        super().__init__(
            name, history_limit=history_limit, state_timeout_seconds=state_timeout_seconds
        )
        self._session = session
        self._next = 0
        self._ids = _IdPairs()
        self._clock = clock

    @property
    def records_left(self) -> int:
        """Return how many recorded commands are still to be replayed."""
        return len(self._session.records) - self._next

    def _execute(self, command: OrderCommand | OnQuote | ExpireDay) -> None:
        match command:
            case Submit(order):
                self._submit(order)
            case Cancel(order_id):
                self._cancel(order_id)
            case Replace(order_id, new):
                self._replace(order_id, new)
            case OnQuote(quote):
                self._market(command, self._quote_matches(quote))
            case ExpireDay():
                self._market(command, isinstance(self._expected(), ExpireDayRecord))

    def _submit(self, order: VenueOrder) -> None:
        record, live_id = self._expected(), order.order_id
        if (
            isinstance(record, SubmitRecord)
            and self._ids.fit(record.order.order_id, live_id)
            and _same_order(record.order, order)
        ):
            self._ids.pair(record.order.order_id, live_id)
            self._play({live_id: order.qty})
        else:
            reason = self._refused(record, Submit(order))
            if live_id in self._history:  # a report would corrupt that order's history
                log.warning("venue %s dropped a resubmitted order %s", self.name, live_id)
            else:
                self._answer("rejected", live_id, reason)

    def _cancel(self, order_id: str) -> None:
        record = self._expected()
        if isinstance(record, CancelRecord) and self._ids.fit(record.order_id, order_id):
            self._ids.pair(record.order_id, order_id)
            self._play({})
        else:
            self._answer("cancel_rejected", order_id, self._refused(record, Cancel(order_id)))

    def _replace(self, order_id: str, new: VenueOrder) -> None:
        record = self._expected()
        if (
            isinstance(record, ReplaceRecord)
            and self._ids.fit(record.order_id, order_id)
            and self._ids.fit(record.new.order_id, new.order_id)
            and _same_order(record.new, new)
        ):
            self._ids.pair(record.order_id, order_id)
            self._ids.pair(record.new.order_id, new.order_id)
            self._play({new.order_id: new.qty})
        else:
            reason = self._refused(record, Replace(order_id, new))
            self._answer("replace_rejected", order_id, reason)

    def _market(self, command: OnQuote | ExpireDay, matches: bool) -> None:
        if matches:
            self._play({})
        else:
            self._refused(self._expected(), command)

    def _quote_matches(self, quote: Quote) -> bool:
        record = self._expected()
        return isinstance(record, QuoteRecord) and record.symbol == quote.symbol

    def _expected(self) -> SessionRecord | None:
        records = self._session.records
        return records[self._next] if self._next < len(records) else None

    def _play(self, sizes: Mapping[str, int]) -> None:
        """Emit the next record's reports with live order ids, and move past it."""
        record = self._session.records[self._next]
        self._next += 1
        self._emit([self._translated(report) for report in record.reports], sizes)

    def _translated(self, report: VenueReport) -> VenueReport:
        live_id = self._ids.live(report.order_id)
        if live_id == report.order_id:
            return report
        return msgspec.structs.replace(report, order_id=live_id)

    def _refused(self, record: SessionRecord | None, command: object) -> str:
        """Log why ``command`` does not replay and return the reason to answer with."""
        if record is None:
            log.info("venue %s: session exhausted, refusing %r", self.name, command)
            return EXHAUSTED
        line = self._session.line_of(self._next)
        log.warning(
            "venue %s diverged from its session at line %d: expected %s, got %r",
            *(self.name, line, _describe(record), command),
        )
        return DIVERGED

    def _answer(self, kind: str, order_id: str, reason: str) -> None:
        report = VenueReport(kind=kind, order_id=order_id, timestamp=self._clock(), reason=reason)
        self._emit([report], {})


def _same_order(recorded: VenueOrder, live: VenueOrder) -> bool:
    return msgspec.structs.replace(live, order_id=recorded.order_id) == recorded


def _describe(record: SessionRecord) -> str:
    match record:
        case SubmitRecord(order=order):
            return f"submit of {order!r}"
        case CancelRecord(order_id=order_id):
            return f"cancel of {order_id!r}"
        case ReplaceRecord(order_id=order_id, new=new):
            return f"replace of {order_id!r} by {new!r}"
        case QuoteRecord(symbol=symbol):
            return f"quote for {symbol!r}"
        case ExpireDayRecord():
            return "expire_day"
