"""The machinery a threaded venue shares: its command queue, its thread and its order history.

``ThreadedVenue`` puts every command (submit, cancel, replace, quote, day expiry, state query,
stop) on one ``queue.Queue`` worked by one dedicated thread, so the venue's state stays
single-threaded and ``order_state`` answers consistently with the commands sent before it.
Subclasses say what a command does (``_execute``); reports go to the listener on the venue
thread, in order, and into a ``History`` that answers ``order_state``.

Behaviour where the venue port is silent:

- A listener that raises is logged; the venue thread carries on with the next report.
- ``on_quote`` and ``expire_day`` are market events, not broker requests: ``fail()`` does not stop
  them, and before ``start`` they wait in the queue; after ``stop`` they are ignored.
- Order commands sent before ``start`` or after ``stop`` raise ``VenueUnavailableError``, as do
  queued state queries that ``stop`` leaves unanswered. A venue starts once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass
from queue import Queue

import msgspec

from agora.execution.venues.protocol import (
    EXECUTION_KINDS,
    FINAL_KINDS,
    OrderState,
    VenueListener,
    VenueUnavailableError,
)
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport

log = logging.getLogger(__name__)

HISTORY_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Submit:
    """Ask the venue thread to work a new order."""

    order: VenueOrder


@dataclass(frozen=True, slots=True)
class Cancel:
    """Ask the venue thread to cancel an order."""

    order_id: str


@dataclass(frozen=True, slots=True)
class Replace:
    """Ask the venue thread to put a new order in place of one it works."""

    order_id: str
    new: VenueOrder


@dataclass(frozen=True, slots=True)
class OnQuote:
    """Tell the venue thread the top of book changed."""

    quote: Quote


@dataclass(frozen=True, slots=True)
class ExpireDay:
    """Tell the venue thread the trading day ended."""


@dataclass(frozen=True, slots=True)
class Query:
    """Ask the venue thread what it did with an order."""

    order_id: str
    answer: Future[OrderState]


@dataclass(frozen=True, slots=True)
class Stop:
    """Wake the venue thread so it sees it was stopped."""


OrderCommand = Submit | Cancel | Replace
Command = Submit | Cancel | Replace | OnQuote | ExpireDay | Query | Stop


class History:
    """Keep the execution reports sent per order; forget the oldest closed orders past a limit."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._reports: dict[str, list[VenueReport]] = {}
        self._remaining: dict[str, int] = {}
        self._closed: deque[str] = deque()

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._reports

    def record(self, report: VenueReport, sizes: Mapping[str, int]) -> VenueReport:
        """Note ``report`` and return it stamped with its per-order ``seq``.

        ``sizes`` gives the quantity of orders this command may accept.
        """
        order_id, kind = report.order_id, report.kind
        if kind not in EXECUTION_KINDS:
            return report
        if kind == "accepted":
            self._remaining[order_id] = sizes.get(order_id, 0)
        history = self._reports.get(order_id)
        if history is None:
            if kind not in ("accepted", "rejected"):
                return report
            history = self._reports[order_id] = []
        report = msgspec.structs.replace(report, seq=len(history) + 1)
        history.append(report)
        if kind in FINAL_KINDS:
            self._close(order_id)
        elif kind == "fill" and order_id in self._remaining:
            self._remaining[order_id] -= report.qty
            if self._remaining[order_id] <= 0:
                self._close(order_id)
        return report

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


class ThreadedVenue:
    """Work venue commands on one dedicated thread and report through a listener."""

    def __init__(
        self, name: str, *, history_limit: int = HISTORY_LIMIT, state_timeout_seconds: float = 10.0
    ) -> None:
        self.name = name
        self._history = History(history_limit)
        self._state_timeout = state_timeout_seconds
        self._commands: Queue[Command] = Queue()
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
            if self._thread is not None or self._stopped.is_set():
                raise RuntimeError(f"a {type(self).__name__} starts once")
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
            first = not self._stopped.is_set()
            self._stopped.set()
            self._commands.put(Stop())
            if first and self._thread is None:
                self._finish()
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
        self._send(Submit(order))

    def cancel(self, order_id: str) -> None:
        """Queue a cancel request."""
        self._send(Cancel(order_id))

    def replace(self, order_id: str, new: VenueOrder) -> None:
        """Queue a replace request."""
        self._send(Replace(order_id, new))

    def order_state(self, order_id: str) -> OrderState:
        """Ask the venue thread what it did with ``order_id`` and wait for the answer."""
        answer: Future[OrderState] = Future()
        self._send(Query(order_id, answer))
        try:
            return answer.result(timeout=self._state_timeout)
        except FutureTimeoutError:
            raise VenueUnavailableError(f"venue {self.name} did not answer in time") from None

    # -- market events --------------------------------------------------------------------------

    def on_quote(self, quote: Quote) -> None:
        """Queue a new top of book for ``quote.symbol`` (callable from any thread)."""
        self._put_market(OnQuote(quote))

    def expire_day(self) -> None:
        """Queue the end of the trading day: resting day, opg and cls orders expire."""
        self._put_market(ExpireDay())

    # -- for subclasses ---------------------------------------------------------------------------

    def _execute(self, command: OrderCommand | OnQuote | ExpireDay) -> None:
        """Work one order command or market event on the venue thread."""
        raise NotImplementedError

    def _finish(self) -> None:
        """Release what the venue holds, once, after its thread's last command (or unstarted)."""

    def _emit(self, reports: list[VenueReport], sizes: Mapping[str, int]) -> None:
        """Note ``reports`` in the history and hand them to the listener, in order."""
        listener = self._listener
        for unstamped in reports:
            report = self._history.record(unstamped, sizes)
            if listener is None:
                continue
            try:
                listener.on_report(report)
            except Exception:
                log.exception("venue %s listener failed on %r", self.name, report)

    # -- internals --------------------------------------------------------------------------------

    def _send(self, command: Command) -> None:
        if self._down:
            raise VenueUnavailableError(f"venue {self.name} is down")
        with self._lock:
            if not self._running:
                raise VenueUnavailableError(f"venue {self.name} is not running")
            self._commands.put(command)

    def _put_market(self, command: Command) -> None:
        with self._lock:
            if not self._stopped.is_set():
                self._commands.put(command)

    def _run(self) -> None:
        try:
            while True:
                command = self._commands.get()
                if self._stopped.is_set():
                    self._refuse(command)
                    return
                self._work(command)
        finally:
            self._finish()

    def _work(self, command: Command) -> None:
        try:
            if isinstance(command, Query):
                command.answer.set_result(self._history.state(command.order_id))
            elif not isinstance(command, Stop):
                self._execute(command)
        except Exception:
            log.exception("venue %s failed on %r", self.name, command)

    def _fail_queued_queries(self) -> None:
        while not self._commands.empty():
            self._refuse(self._commands.get_nowait())

    def _refuse(self, command: Command) -> None:
        if isinstance(command, Query) and not command.answer.done():
            message = f"venue {self.name} stopped before answering"
            command.answer.set_exception(VenueUnavailableError(message))
