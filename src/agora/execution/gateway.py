"""The broker gateway: the bridge between a venue's thread and the asyncio event loop.

The venue calls its listener on its own thread; the listener only schedules ``_deliver`` on the
loop with ``call_soon_threadsafe`` and touches nothing else. On the loop, ``_deliver`` resolves
the submit waiting for that order's first answer and queues the report for one delivery task,
which awaits ``on_report`` for each report in arrival order.

Choices where the design is silent:

- ``on_report`` sees every report, including the answer ``submit`` returns and the synthetic
  ``venue_timeout`` rejection; ``submit``'s return value is a copy for the caller's convenience.
- Sequenced execution reports (``seq`` > 0, stamped per order by the venue) are handed on exactly
  once and in their order, whatever order and however often they arrive: a repeat is dropped, and
  an early one waits for the reports before it. If a gap is still open after ``gap_seconds``, the
  gateway asks the venue for the order's state (as a FIX resend request would) and takes the
  missing reports from it. Unsequenced execution reports are handed on once per (order id, kind,
  fill id). Both are remembered for the newest ``delivered_limit`` orders; ``cancel_rejected``
  and ``replace_rejected`` are never deduplicated.
- A report arriving for an order declared ``venue_timeout`` (the venue learned of it late) is
  still handed on: the receiver decides (typically by canceling it).
- An ``on_report`` that raises is logged and the next report is handed on; the receiver owns its
  retries.
- ``stop()`` hands on every report the venue sent before it stopped; a submit still waiting then
  raises ``GatewayStoppedError`` (outcome unknown: reconcile after a restart). Calls after stop
  raise it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from agora.core.errors import AgoraError, ConflictError
from agora.execution.venues.protocol import (
    ANSWER_KINDS,
    EXECUTION_KINDS,
    Venue,
    VenueUnavailableError,
)
from agora.execution.venues.reports import VenueOrder, VenueReport

log = logging.getLogger(__name__)

DELIVERED_LIMIT = 100_000


class GatewayStoppedError(AgoraError):
    """Raise when the gateway is stopped (or stopping) and cannot take or finish a request."""

    code = "gateway_stopped"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _LoopListener:
    """Forward venue reports to the loop; runs on the venue thread and touches nothing else."""

    __slots__ = ("_deliver", "_loop")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deliver: Callable[[VenueReport], None]
    ) -> None:
        self._loop = loop
        self._deliver = deliver

    def on_report(self, report: VenueReport) -> None:
        """Schedule delivery of ``report`` on the loop's thread."""
        try:
            self._loop.call_soon_threadsafe(self._deliver, report)
        except RuntimeError:  # the loop is closed: nobody is left to tell
            log.warning("dropped a venue report after the loop closed: %r", report)


class BrokerGateway:
    """Send orders to a venue and bring its reports, in order, into the event loop."""

    def __init__(
        self,
        venue: Venue,
        *,
        on_report: Callable[[VenueReport], Awaitable[None]],
        ack_timeout_seconds: float = 2.0,
        clock: Callable[[], datetime] = _utc_now,
        delivered_limit: int = DELIVERED_LIMIT,
        gap_seconds: float = 0.5,
    ) -> None:
        self._venue = venue
        self._on_report = on_report
        self._ack_timeout = ack_timeout_seconds
        self._clock = clock
        self._delivered_limit = delivered_limit
        self._delivered: OrderedDict[str, set[tuple[str, str | None]]] = OrderedDict()
        self._next_seq: OrderedDict[str, int] = OrderedDict()  # order id → next seq to hand on
        self._early: dict[str, dict[int, VenueReport]] = {}  # order id → seq → waiting report
        self._gap_seconds = gap_seconds
        self._gap_checks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, asyncio.Future[VenueReport]] = {}
        self._reports: asyncio.Queue[VenueReport | None] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._stopped = False

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the delivery task and the venue, bound to the running loop."""
        if self._loop is not None:
            raise RuntimeError("a BrokerGateway starts once")
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._hand_on(), name=f"gateway-{self._venue.name}")
        try:
            self._venue.start(_LoopListener(self._loop, self._deliver))
        except BaseException:
            await self._finish_delivery()
            raise

    async def stop(self) -> None:
        """Stop the venue, hand on what it sent, fail waiting submits; idempotent."""
        if self._closing or self._loop is None:
            return
        self._closing = True
        await asyncio.to_thread(self._venue.stop)
        # Deliveries the venue scheduled before it stopped ran before this line (FIFO callbacks).
        self._stopped = True
        for check in list(self._gap_checks):
            check.cancel()
        for order_id, answer in self._pending.items():
            if not answer.done():
                message = f"gateway stopped before the venue answered order {order_id}"
                answer.set_exception(GatewayStoppedError(message))
        await self._finish_delivery()

    # -- requests -------------------------------------------------------------------------------

    async def submit(self, order: VenueOrder) -> VenueReport:
        """Send ``order`` and return its first answer; reconcile with the venue on timeout."""
        loop = self._open_loop()
        order_id = order.order_id
        if order_id in self._pending:
            raise ConflictError(f"order {order_id} is already in flight", code="duplicate_order_id")
        answer: asyncio.Future[VenueReport] = loop.create_future()
        self._pending[order_id] = answer
        try:
            self._venue.submit(order)
            await asyncio.wait({answer}, timeout=self._ack_timeout)
        finally:
            del self._pending[order_id]
        if answer.done():
            return answer.result()
        answer.cancel()
        return await self._reconcile(order_id)

    async def cancel(self, order_id: str) -> None:
        """Ask the venue to cancel an order; the outcome arrives through ``on_report``."""
        self._open_loop()
        self._venue.cancel(order_id)

    async def replace(self, order_id: str, new: VenueOrder) -> None:
        """Ask the venue to replace an order; the outcome arrives through ``on_report``."""
        self._open_loop()
        self._venue.replace(order_id, new)

    # -- internals --------------------------------------------------------------------------------

    def _open_loop(self) -> asyncio.AbstractEventLoop:
        if self._closing:
            raise GatewayStoppedError("the broker gateway is stopped")
        if self._loop is None:
            raise RuntimeError("start the BrokerGateway first")
        return self._loop

    async def _reconcile(self, order_id: str) -> VenueReport:
        """Ask the venue what became of an unanswered order; never resubmit it."""
        state = await asyncio.to_thread(self._venue.order_state, order_id)
        if not state.known:
            report = VenueReport(
                kind="rejected", order_id=order_id, timestamp=self._clock(), reason="venue_timeout"
            )
            self._accept(report)
            return report
        self.absorb(state.reports)
        for report in state.reports:
            if report.kind in ANSWER_KINDS:
                return report
        raise VenueUnavailableError(
            f"venue {self._venue.name} knows order {order_id} but never answered it",
            code="venue_state_inconsistent",
        )

    def absorb(self, reports: tuple[VenueReport, ...] | list[VenueReport]) -> None:
        """Take reports learned another way (an order's state after a restart), in order."""
        for report in reports:
            self._accept(report)

    def _deliver(self, report: VenueReport) -> None:
        """Take a report from the venue thread; runs on the loop's thread."""
        self._accept(report)

    def _accept(self, report: VenueReport) -> None:
        """Put a sequenced report in its place; hand on what is next in line."""
        if self._stopped:
            return
        if report.seq <= 0 or report.kind not in EXECUTION_KINDS:
            if self._first_delivery(report):
                self._hand_on_one(report)
            return
        order_id = report.order_id
        expected = self._next_seq.get(order_id, 1)
        if report.seq < expected:
            return  # a repeat
        if report.seq > expected:
            self._wait_for_gap(report)
            return
        self._hand_on_one(report)
        waiting = self._early.get(order_id, {})
        expected += 1
        while (early := waiting.pop(expected, None)) is not None:
            self._hand_on_one(early)
            expected += 1
        if not waiting:
            self._early.pop(order_id, None)
        self._next_seq[order_id] = expected
        self._next_seq.move_to_end(order_id)
        if len(self._next_seq) > self._delivered_limit:
            self._next_seq.popitem(last=False)

    def _wait_for_gap(self, report: VenueReport) -> None:
        """Keep an early report; ask the venue for the order's state if the gap stays open."""
        waiting = self._early.setdefault(report.order_id, {})
        first = not waiting
        waiting[report.seq] = report
        if first and self._loop is not None:
            task = self._loop.create_task(self._fill_gap(report.order_id))
            self._gap_checks.add(task)
            task.add_done_callback(self._gap_checks.discard)

    async def _fill_gap(self, order_id: str) -> None:
        await asyncio.sleep(self._gap_seconds)
        if not self._early.get(order_id) or self._stopped:
            return
        try:
            state = await asyncio.to_thread(self._venue.order_state, order_id)
        except VenueUnavailableError as error:
            log.warning("could not fill a report gap of order %s: %s", order_id, error)
            return
        self.absorb(state.reports)

    def _hand_on_one(self, report: VenueReport) -> None:
        """Queue one report for ``on_report``; answer a waiting submit."""
        if report.kind in ANSWER_KINDS:
            answer = self._pending.get(report.order_id)
            if answer is not None and not answer.done():
                answer.set_result(report)
        self._reports.put_nowait(report)

    def _first_delivery(self, report: VenueReport) -> bool:
        """Note an execution report as delivered; tell whether it is new."""
        if report.kind not in EXECUTION_KINDS:
            return True
        keys = self._delivered.get(report.order_id)
        if keys is None:
            keys = self._delivered[report.order_id] = set()
            if len(self._delivered) > self._delivered_limit:
                self._delivered.popitem(last=False)
        key = (report.kind, report.fill_id)
        if key in keys:
            return False
        keys.add(key)
        return True

    async def _hand_on(self) -> None:
        """Await ``on_report`` for each queued report, one at a time, in arrival order."""
        while (report := await self._reports.get()) is not None:
            try:
                await self._on_report(report)
            except Exception:
                log.exception("on_report failed for %r", report)

    async def _finish_delivery(self) -> None:
        self._reports.put_nowait(None)
        if self._task is not None:
            await self._task
