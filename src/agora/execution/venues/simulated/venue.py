"""The paper venue as a venue: a ``SimulatedBook`` worked on one dedicated thread.

Every command (submit, cancel, replace, quote, day expiry, state query, stop) goes through one
``queue.Queue`` to the venue thread, so the book stays single-threaded and ``order_state`` answers
consistently with the commands sent before it. Reports go to the listener on that thread, in the
order the book produced them.

Behaviour where the venue port is silent:

- A submit whose order id the venue already knows is dropped (logged, no report): a resubmission
  never makes a second order, and a caller that waits for it reconciles with ``order_state``.
- A listener that raises is logged; the venue thread carries on with the next report.
- ``on_quote`` and ``expire_day`` are market events, not broker requests: ``fail()`` does not stop
  them, and before ``start`` they wait in the queue; after ``stop`` they are ignored.
- Order commands sent before ``start`` or after ``stop`` raise ``VenueUnavailableError``, as do
  queued state queries that ``stop`` leaves unanswered.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from datetime import UTC, datetime
from queue import Queue

from agora.execution.venues.protocol import (
    EXECUTION_KINDS,
    FINAL_KINDS,
    OrderState,
    VenueListener,
    VenueUnavailableError,
)
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated.book import SimulatedBook

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Submit:
    order: VenueOrder


@dataclass(frozen=True, slots=True)
class _Cancel:
    order_id: str


@dataclass(frozen=True, slots=True)
class _Replace:
    order_id: str
    new: VenueOrder


@dataclass(frozen=True, slots=True)
class _OnQuote:
    quote: Quote


@dataclass(frozen=True, slots=True)
class _ExpireDay:
    pass


@dataclass(frozen=True, slots=True)
class _Query:
    order_id: str
    answer: Future[OrderState]


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Command = _Submit | _Cancel | _Replace | _OnQuote | _ExpireDay | _Query | _Stop


class _History:
    """Keep the execution reports sent per order; forget the oldest closed orders past a limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._reports: dict[str, list[VenueReport]] = {}
        self._remaining: dict[str, int] = {}
        self._closed: deque[str] = deque()

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._reports

    def record(self, report: VenueReport, sizes: Mapping[str, int]) -> None:
        """Note ``report``; ``sizes`` gives the quantity of orders this command may accept."""
        order_id, kind = report.order_id, report.kind
        if kind not in EXECUTION_KINDS:
            return
        if kind == "accepted":
            self._remaining[order_id] = sizes.get(order_id, 0)
        history = self._reports.get(order_id)
        if history is None:
            if kind not in ("accepted", "rejected"):
                return
            history = self._reports[order_id] = []
        history.append(report)
        if kind in FINAL_KINDS:
            self._close(order_id)
        elif kind == "fill" and order_id in self._remaining:
            self._remaining[order_id] -= report.qty
            if self._remaining[order_id] <= 0:
                self._close(order_id)

    def state(self, order_id: str) -> OrderState:
        """Return what is remembered about ``order_id``."""
        history = self._reports.get(order_id)
        if history is None:
            return OrderState(order_id=order_id, known=False, open=False)
        is_open = order_id in self._remaining
        return OrderState(order_id=order_id, known=True, open=is_open, reports=tuple(history))

    def _close(self, order_id: str) -> None:
        self._remaining.pop(order_id, None)
        self._closed.append(order_id)
        while len(self._closed) > self._limit:
            self._reports.pop(self._closed.popleft(), None)


class SimulatedVenue:
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
    ) -> None:
        self._book = book if book is not None else SimulatedBook()
        self.name = self._book.venue
        self._latency = latency_seconds
        self._reject_rate = reject_rate
        self._random = random.Random(seed)
        self._clock = clock
        self._history = _History(history_limit)
        self._state_timeout = state_timeout_seconds
        self._commands: Queue[_Command] = Queue()
        self._lock = threading.Lock()  # orders "check running, enqueue" against stop()
        self._running = False
        self._stopped = threading.Event()
        self._down = False
        self._listener: VenueListener | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, listener: VenueListener) -> None:
        """Start the venue thread; reports go to ``listener``."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("a SimulatedVenue starts once")
            self._listener = listener
            self._thread = threading.Thread(
                target=self._run, name=f"venue-{self.name}", daemon=True
            )
            self._running = True
            self._thread.start()

    def stop(self) -> None:
        """Stop the venue thread without working queued commands; idempotent."""
        with self._lock:
            self._running = False
            self._stopped.set()
            self._commands.put(_Stop())
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()
        self._fail_queued_queries()

    def fail(self) -> None:
        """Simulate a broker outage: order commands and state queries raise until ``recover``."""
        self._down = True

    def recover(self) -> None:
        """End a simulated outage."""
        self._down = False

    # -- the venue port -------------------------------------------------------------------------

    def submit(self, order: VenueOrder) -> None:
        """Queue ``order`` for the venue thread."""
        self._send(_Submit(order))

    def cancel(self, order_id: str) -> None:
        """Queue a cancel request."""
        self._send(_Cancel(order_id))

    def replace(self, order_id: str, new: VenueOrder) -> None:
        """Queue a replace request."""
        self._send(_Replace(order_id, new))

    def order_state(self, order_id: str) -> OrderState:
        """Ask the venue thread what it did with ``order_id`` and wait for the answer."""
        answer: Future[OrderState] = Future()
        self._send(_Query(order_id, answer))
        try:
            return answer.result(timeout=self._state_timeout)
        except FutureTimeoutError:
            raise VenueUnavailableError(f"venue {self.name} did not answer in time") from None

    # -- market events --------------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        """Queue a new top of book for ``quote.symbol`` (callable from any thread)."""
        self._put_market(_OnQuote(quote))

    def expire_day(self) -> None:
        """Queue the end of the trading day: resting day, opg and cls orders expire."""
        self._put_market(_ExpireDay())

    # -- internals --------------------------------------------------------------------------------

    def _send(self, command: _Command) -> None:
        if self._down:
            raise VenueUnavailableError(f"venue {self.name} is down")
        with self._lock:
            if not self._running:
                raise VenueUnavailableError(f"venue {self.name} is not running")
            self._commands.put(command)

    def _put_market(self, command: _Command) -> None:
        with self._lock:
            if not self._stopped.is_set():
                self._commands.put(command)

    def _run(self) -> None:
        while True:
            command = self._commands.get()
            if self._stopped.is_set():
                self._refuse(command)
                return
            try:
                self._execute(command)
            except Exception:
                log.exception("venue %s failed on %r", self.name, command)

    def _execute(self, command: _Command) -> None:
        is_order = isinstance(command, _Submit | _Cancel | _Replace)
        if is_order and self._latency > 0 and self._stopped.wait(self._latency):
            return
        book, now = self._book, self._clock()
        match command:
            case _Submit(order):
                self._emit(self._submit(order, now), {order.order_id: order.qty})
            case _Cancel(order_id):
                self._emit(book.cancel(order_id, now), {})
            case _Replace(order_id, new):
                self._emit(book.replace(order_id, new, now), {new.order_id: new.qty})
            case _OnQuote(quote):
                self._emit(book.on_quote(quote, now), {})
            case _ExpireDay():
                self._emit(book.expire_day(now), {})
            case _Query(order_id, answer):
                answer.set_result(self._history.state(order_id))

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

    def _emit(self, reports: list[VenueReport], sizes: Mapping[str, int]) -> None:
        listener = self._listener
        for report in reports:
            self._history.record(report, sizes)
            if listener is None:
                continue
            try:
                listener.on_report(report)
            except Exception:
                log.exception("venue %s listener failed on %r", self.name, report)

    def _fail_queued_queries(self) -> None:
        while not self._commands.empty():
            self._refuse(self._commands.get_nowait())

    def _refuse(self, command: _Command) -> None:
        if isinstance(command, _Query) and not command.answer.done():
            message = f"venue {self.name} stopped before answering"
            command.answer.set_exception(VenueUnavailableError(message))
