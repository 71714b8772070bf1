"""The execution engine: order commands from the outbox to the venue, its reports back to lanes.

It follows the outbox from its own checkpoint for ``order.submitted``,
``order.cancel_requested`` and ``order.replace_requested``. For each, it first records a
``sent`` mark in the same transaction as its checkpoint, then calls the venue through the broker
gateway: a redelivered event finds the mark and is skipped, so no order reaches the venue twice.
Every venue report becomes an ``ApplyReport`` for the order's lane, submitted in arrival order
(the lane keeps each account's commands in order) without waiting for each commit. The circuit
breaker guards every venue call: while it is open, or when the venue is down, a new order is
rejected with ``broker_unavailable`` (its hold released by the lane). On start, open orders the
venue does not know (the paper venue forgets everything on restart) are sent again after asking
it, never blindly, if they were marked sent (ADR 8).

Under a real calendar, the ``MarketSession`` (ADR 12) sees each chunk first: orders that arrive
while the market is closed are held (``accepted``) in a durable queue instead of sent, and
released at the open at ``release_rate_per_second``, through the outbox, so they take this same
path to the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from agora.bus.ports import CheckpointStore, DocumentSource, OutboxStore, ProjectionTx
from agora.core.clock import Clock
from agora.core.errors import AgoraError
from agora.core.events import Event, EventType
from agora.execution.breaker import CircuitBreaker
from agora.execution.gateway import BrokerGateway
from agora.execution.session import MarketSession
from agora.execution.venues.protocol import Venue, VenueUnavailableError
from agora.execution.venues.reports import VenueOrder, VenueReport
from agora.execution.wire import order_from_model, order_from_payload
from agora.marketdata.trading_calendar import AlwaysOpenCalendar, TradingCalendar
from agora.orders.commands import ApplyReport
from agora.orders.lanes import OrderService
from agora.orders.model import Order, Report, ReportKind, Status

log = logging.getLogger(__name__)

SUBSCRIBER = "execution"
SENT = "execution.sent"
RECOVERY = "execution.recovery"  # counts the engine's recovery transactions
COMMANDS = frozenset(
    {EventType.ORDER_SUBMITTED, EventType.ORDER_CANCEL_REQUESTED, EventType.ORDER_REPLACE_REQUESTED}
)


class ExecutionEngine:
    """Routes order commands to a venue and the venue's reports back to the order lanes."""

    def __init__(
        self,
        *,
        venue: Venue,
        orders: OrderService,
        outbox: OutboxStore,
        checkpoints: CheckpointStore,
        clock: Clock,
        breaker: CircuitBreaker | None = None,
        ack_timeout_seconds: float = 2.0,
        chunk: int = 500,
        calendar: TradingCalendar | None = None,
        documents: DocumentSource | None = None,
        release_rate_per_second: int = 1000,
        session_poll_seconds: float = 1.0,
    ) -> None:
        if calendar is not None and documents is None:
            raise ValueError("an engine with a calendar needs documents to reload its queue")
        self.venue = venue
        self.breaker = breaker or CircuitBreaker()
        self.gateway = BrokerGateway(
            venue, on_report=self._on_report, ack_timeout_seconds=ack_timeout_seconds
        )
        self._orders = orders
        self._outbox = outbox
        self._checkpoints = checkpoints
        self._clock = clock
        self._chunk = chunk
        self._accounts: dict[str, str] = {}  # order id → account id, for routing reports
        self._wakeup = asyncio.Event()
        self._stepping = asyncio.Lock()  # one step at a time: the follower's, or a drain's
        self._position: int | None = None  # the checkpoint, as of the last step
        self._task: asyncio.Task[None] | None = None
        self.session = MarketSession(
            calendar=calendar or AlwaysOpenCalendar(),
            clock=clock,
            orders=orders,
            checkpoints=checkpoints,
            documents=documents,
            venue=venue,
            drain=self.drain,
            release_rate_per_second=release_rate_per_second,
            poll_seconds=session_poll_seconds,
        )

    @property
    def release_rate_per_second(self) -> int:
        """Return the maximum rate at which held orders are released."""
        return self.session.limiter.per_second

    def set_release_rate(self, per_second: int) -> None:
        """Change the maximum release rate at run time (a venue's or partner's capacity)."""
        self.session.set_release_rate(per_second)

    async def start(self) -> None:
        """Start the gateway, reload the queue, recover open orders, follow the outbox."""
        await self.gateway.start()
        await self.session.load()
        await self._recover()
        self._orders.on_commit(self._wakeup.set)
        self._task = asyncio.create_task(self._follow(), name="execution-engine")
        self.session.start()

    async def stop(self) -> None:
        """Stop following (what is not marked sent is picked up on the next start)."""
        await self.session.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.gateway.stop()

    async def drain(self) -> None:
        """Send everything committed so far (tests, the close, and shutdown)."""
        while await self._step():
            pass

    async def _follow(self) -> None:
        while True:
            self._wakeup.clear()  # before looking, so no commit slips between look and wait
            try:
                moved = await self._step()
            except Exception:
                log.exception("execution engine step failed; retrying")
                self._position = None  # read the checkpoint again
                await asyncio.sleep(0.5)
                continue
            if not moved:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._wakeup.wait()

    async def _step(self) -> bool:
        """Route the next chunk, mark its commands sent (with the checkpoint), then send them."""
        async with self._stepping:
            if self._position is None:
                self._position = await self._checkpoints.checkpoint(SUBSCRIBER)
            events = await self._outbox.fetch_after(self._position, self._chunk)
            if not events:
                return False
            routing = await self.session.route(events)
            fresh: list[Event] = []

            def mark(tx: ProjectionTx) -> None:
                fresh.clear()  # a retried transaction starts over
                routing.write(tx)
                for seq, event in events:
                    if event.type not in COMMANDS or seq in routing.local:
                        continue
                    key = f"{event.type}:{event.payload['order_id']}"
                    if tx.get(SENT, key) is None:
                        tx.put(SENT, key, str(event.account_id).encode())
                        fresh.append(event)

            if await self._checkpoints.apply(SUBSCRIBER, events[-1][0], mark):
                self.session.settle(routing)
            self._position = events[-1][0]
            for event in fresh:
                await self._send(event)
            return True

    async def _send(self, event: Event) -> None:
        payload, account_id = event.payload, str(event.account_id)
        order_id = str(payload["order_id"])
        self._accounts[order_id] = account_id
        if event.type == EventType.ORDER_SUBMITTED:
            await self._submit(account_id, order_from_payload(payload))
        elif event.type == EventType.ORDER_CANCEL_REQUESTED:
            await self._request(account_id, order_id, ReportKind.CANCEL_REJECTED, None)
        else:
            old = payload["replaces_order"]
            assert isinstance(old, dict)
            await self._request(
                account_id, str(old["order_id"]), ReportKind.REPLACE_REJECTED, payload
            )

    async def _submit(self, account_id: str, order: VenueOrder) -> None:
        now = self._clock.now()
        if not self.breaker.allow(now):
            self._apply(account_id, _rejected(order.order_id, now, "broker_unavailable"))
            return
        try:
            answer = await self.gateway.submit(order)
        except VenueUnavailableError:
            self.breaker.record_failure(self._clock.now())
            self._apply(account_id, _rejected(order.order_id, now, "broker_unavailable"))
            return
        if answer.reason == "venue_timeout":
            self.breaker.record_failure(self._clock.now())
        else:
            self.breaker.record_success(self._clock.now())

    async def _request(
        self,
        account_id: str,
        order_id: str,
        refusal: ReportKind,
        replacement: dict[str, Any] | None,
    ) -> None:
        """Ask the venue to cancel or replace; refuse the request if the venue is down."""
        try:
            if replacement is None:
                await self.gateway.cancel(order_id)
            else:
                await self.gateway.replace(order_id, order_from_payload(replacement))
        except VenueUnavailableError:
            now = self._clock.now()
            self._apply(
                account_id,
                Report(kind=refusal, order_id=order_id, timestamp=now, reason="broker_unavailable"),
            )

    async def _on_report(self, report: VenueReport) -> None:
        """Hand a venue report to its order's lane (in arrival order, without waiting)."""
        account_id = self._accounts.get(report.order_id)
        if account_id is None:
            log.warning("venue report for an order the engine does not know: %r", report)
            return
        self._apply(account_id, _report(report))

    def _apply(self, account_id: str, report: Report) -> None:
        future = self._orders.submit(ApplyReport(account_id=account_id, report=report))
        future.add_done_callback(_log_refusal)

    async def _recover(self) -> None:
        """Hand on what the venue did with open orders; send again those it does not know."""
        unknown: list[Order] = []
        for lane in self._orders.lanes:
            for state in lane.book.accounts.values():
                for order in list(state.open_orders.values()):
                    self._accounts[order.order_id] = order.account_id
                    if order.status in _NOT_AT_VENUE or order.order_id in self.session.queue:
                        continue  # a request is replayed from the outbox; a held order waits
                    found = await asyncio.to_thread(self.venue.order_state, order.order_id)
                    if not found.known:
                        unknown.append(order)
                    self.gateway.absorb(found.reports)  # in order, once, like live reports
        if not unknown:
            return
        resend: list[Order] = []

        def mark(tx: ProjectionTx) -> None:
            resend.clear()
            for order in unknown:
                keys = [f"{kind}:{order.order_id}" for kind in _SENDS]
                if any(tx.get(SENT, key) is not None for key in keys):
                    resend.append(order)  # sent before: the venue forgot it
                # else its order.submitted is still ahead of the checkpoint: the follower routes it

        recovery = await self._checkpoints.checkpoint(RECOVERY) + 1
        await self._checkpoints.apply(RECOVERY, recovery, mark)
        for order in resend:
            await self._submit(order.account_id, order_from_model(order))


_NOT_AT_VENUE = frozenset({Status.PENDING_CANCEL, Status.PENDING_REPLACE, Status.ACCEPTED})
_SENDS = (EventType.ORDER_SUBMITTED, EventType.ORDER_REPLACE_REQUESTED)


def _report(report: VenueReport) -> Report:
    return Report(
        kind=ReportKind(report.kind),
        order_id=report.order_id,
        timestamp=report.timestamp,
        fill_id=report.fill_id,
        qty=report.qty,
        price=report.price,
        fee_cents=report.fee_cents,
        reason=report.reason,
        venue_order_id=report.venue_order_id,
    )


def _rejected(order_id: str, now: datetime, reason: str) -> Report:
    return Report(kind=ReportKind.REJECTED, order_id=order_id, timestamp=now, reason=reason)


def _log_refusal(future: asyncio.Future[Any]) -> None:
    if future.cancelled():
        return
    error = future.exception()
    if isinstance(error, AgoraError):
        log.info("a venue report was refused by its lane: %s", error)
    elif error is not None:
        log.error("applying a venue report failed", exc_info=error)
