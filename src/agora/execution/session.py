"""The market session: orders held while the market is closed, released at the open, the close.

The execution engine hands every chunk of order commands from the outbox to ``route`` before it
sends anything. An ``order.submitted`` that arrives while the market is closed (an ``opg`` order
at any time, a ``cls`` order before the close, or any order while a backlog waits) is held:
its lane marks it ``accepted`` (``QUEUED``, the hold stays) and an entry goes into the
``execution.queue`` collection in the same transaction as the engine's checkpoint. A cancel of
an order still held is answered here (``canceled``); a replace of one is refused
(``order_queued``). Everything else is sent as before.

The session task follows the clock. While the market is open it releases due entries, ``opg``
first, round-robin across accounts, at most ``release_rate_per_second``: the lane moves each
``accepted`` order back to ``pending_new`` (``RELEASED``) and writes a new ``order.submitted``
marked ``released``, which the engine sends from the outbox like any other (marked ``sent``
before the venue call). An order canceled while held is skipped: its lane canceled it at once.
At each close it releases the due ``cls`` orders, waits until the engine has sent them, expires
the ``day``, ``opg`` and ``cls`` orders still held, asks the venue to expire its resting day
orders, and records the next close to handle; new orders are held while a passed close waits to
be handled. See ADR 12.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from agora.bus.ports import CheckpointStore, DocumentSource, ProjectionTx
from agora.core.clock import Clock
from agora.core.errors import AgoraError
from agora.core.events import Event, EventType
from agora.execution.release_queue import (
    Phase,
    QueuedOrder,
    ReleaseLimiter,
    ReleaseQueue,
    decode_entry,
    phase_of,
)
from agora.execution.routing import QUEUE, HeldView, Routing
from agora.execution.venues.protocol import VenueUnavailableError
from agora.marketdata.trading_calendar import CalendarRangeError, TradingCalendar
from agora.orders.commands import ApplyReport
from agora.orders.lanes import OrderService
from agora.orders.model import Order, Report, ReportKind, Status

log = logging.getLogger(__name__)

SESSION = "execution.session"  # the session's own documents, and its transaction counter
NEXT_CLOSE = "next_close"
QUEUED_ORDER = "order_queued"  # why a replace of a held order is refused


@runtime_checkable
class DayExpiringVenue(Protocol):
    """A venue told when the trading day ends (the paper venues; a real one knows itself)."""

    def expire_day(self) -> None:
        """Expire every resting day, opg and cls order."""
        ...


class MarketSession:
    """Hold orders while the market is closed; release them at the open and run the close."""

    def __init__(
        self,
        *,
        calendar: TradingCalendar,
        clock: Clock,
        orders: OrderService,
        checkpoints: CheckpointStore,
        documents: DocumentSource | None,
        venue: object,
        drain: Callable[[], Awaitable[None]],
        release_rate_per_second: int,
        poll_seconds: float = 1.0,
    ) -> None:
        self.calendar = calendar
        self.queue = ReleaseQueue()
        self.limiter = ReleaseLimiter(release_rate_per_second)
        self._clock = clock
        self._orders = orders
        self._checkpoints = checkpoints
        self._documents = documents
        self._venue = venue
        self._drain = drain
        self._poll = poll_seconds
        self._next_close: datetime | None = None
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- lifecycle --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild the queue from its documents and the lanes; find the next close to handle."""
        stale: list[str] = []
        rows = [] if self._documents is None else await self._documents.documents(QUEUE, "")
        for entry in sorted((decode_entry(value) for _, value in rows), key=_by_arrival):
            order = self._order(entry.account_id, entry.order_id)
            if order is None or order.is_final:
                stale.append(entry.order_id)
            else:  # released, or a cancel or replace on its way: the engine settles it
                self.queue.add(entry, waiting=order.status is Status.ACCEPTED)
        self._next_close = await self._stored_close()
        if self._next_close is None:
            try:
                self._next_close = self.calendar.next_close(self._clock.now())
            except CalendarRangeError as error:  # no close to handle until the calendar knows
                log.warning("market session: %s", error)
        await self._write(stale, self._next_close)

    def start(self) -> None:
        """Start following the clock."""
        self._task = asyncio.create_task(self._run(), name="market-session")

    async def stop(self) -> None:
        """Stop following the clock (held orders stay held, in the store)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def set_release_rate(self, per_second: int) -> None:
        """Change the maximum release rate at once (e.g. to a partner's capacity)."""
        self.limiter.per_second = per_second
        self._changed.set()

    # -- routing the engine's commands ----------------------------------------------------------

    async def route(self, events: Sequence[tuple[int, Event]]) -> Routing:
        """Decide which commands of a chunk are held or answered here; apply their lane steps."""
        routing = Routing()
        now = self._clock.now()
        held = HeldView(self.queue, now)
        steps: list[tuple[str, Report]] = []
        for seq, event in events:
            account_id, payload = str(event.account_id), event.payload
            order_id = str(payload.get("order_id"))
            if event.type == EventType.ORDER_SUBMITTED:
                if payload.get("released") is True:
                    if held.drop(order_id):
                        routing.forget(order_id)
                    continue
                due = self._due(str(payload["time_in_force"]), account_id, order_id, now, held)
                if due is None:
                    continue
                entry = QueuedOrder(
                    order_id=order_id,
                    account_id=account_id,
                    time_in_force=str(payload["time_in_force"]),
                    seq=seq,
                    due=due,
                )
                held.add(entry, now)
                routing.puts.append(entry)
                steps.append((account_id, _report(ReportKind.QUEUED, order_id, now)))
            elif event.type == EventType.ORDER_CANCEL_REQUESTED and held.drop(order_id):
                routing.forget(order_id)
                steps.append((account_id, _report(ReportKind.CANCELED, order_id, now)))
            elif event.type == EventType.ORDER_REPLACE_REQUESTED:
                old = payload["replaces_order"]
                assert isinstance(old, dict)
                old_id = str(old["order_id"])
                if old_id not in held:
                    continue
                routing.requeues.append(old_id)
                refusal = _report(ReportKind.REPLACE_REJECTED, old_id, now, QUEUED_ORDER)
                steps += [
                    (account_id, refusal),
                    (account_id, _report(ReportKind.QUEUED, old_id, now)),
                ]
            else:
                continue
            routing.local.add(seq)
        await self._apply(steps)
        return routing

    def settle(self, routing: Routing) -> None:
        """Mirror a committed routing in memory."""
        for order_id in routing.deletes:
            self.queue.remove(order_id)
        for entry in routing.puts:
            self.queue.add(entry)
        for order_id in routing.requeues:
            self.queue.requeue(order_id)
        if routing.puts or routing.requeues:
            self._changed.set()

    def _due(
        self, time_in_force: str, account_id: str, order_id: str, now: datetime, held: HeldView
    ) -> datetime | None:
        """Return when a new order may go to the venue, or None to send it now."""
        phase = phase_of(time_in_force)
        if phase is Phase.CLOSING and (close := self.calendar.next_close(now)) is not None:
            return close
        opens = self.calendar.next_open(now)
        if phase is Phase.OPENING and opens is not None:
            return opens  # the next opening cross, also for an opg order placed in a session
        if not self.calendar.is_open(now):
            return opens
        if held.backlog or self._close_pending(now):
            return now  # behind the orders already waiting, or after the last close is handled
        order = self._order(account_id, order_id)
        if order is not None and order.status is Status.ACCEPTED:
            return now  # held before a restart
        return None

    def _close_pending(self, now: datetime) -> bool:
        return self._next_close is not None and now >= self._next_close

    # -- the session task -----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except (CalendarRangeError, VenueUnavailableError) as error:
                log.warning("market session: %s; retrying", error)
                await self._nap(self._poll)
            except Exception:
                log.exception("market session step failed; retrying")
                await self._nap(self._poll)

    async def _tick(self) -> None:
        now = self._clock.now()
        if self._next_close is not None and now >= self._next_close:
            await self._close(self._next_close)
            return
        is_open = self.calendar.is_open(now)
        if is_open and (allowance := self.limiter.allowance(now)) > 0:
            batch = self.queue.take(allowance, now)
            if batch:
                self.limiter.note(now, len(batch))
                await self._release(batch)
                return
        await self._nap(self._pause(now, is_open))

    def _pause(self, now: datetime, is_open: bool) -> float:
        """Seconds until something may be due: the close, the open, an order, a release slot."""
        moments = [self._next_close]
        if is_open:
            due = self.queue.next_due((Phase.OPENING, Phase.SESSION))
            moments.append(self.limiter.next_slot(now) if due is not None and due <= now else due)
        elif self.queue.holds_for_session():
            moments.append(self.calendar.next_open(now))
        waits = [(moment - now).total_seconds() for moment in moments if moment is not None]
        return min([self._poll, *(wait for wait in waits if wait > 0)])

    async def _nap(self, seconds: float) -> None:
        """Wait ``seconds`` (wall time), or less if the queue or the rate changes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.001)):
                await self._changed.wait()
        self._changed.clear()  # whatever changed is looked at next, before any other nap

    async def _release(self, batch: list[QueuedOrder]) -> None:
        """Hand held orders to their lanes; forget those closed meanwhile; retry failed ones."""
        now = self._clock.now()
        results = await self._apply(
            [
                (entry.account_id, _report(ReportKind.RELEASED, entry.order_id, now))
                for entry in batch
            ]
        )
        closed: list[str] = []
        for entry, result in zip(batch, results, strict=True):
            if isinstance(result, Order):
                continue  # released: the engine sends it and forgets the entry
            order = self._order(entry.account_id, entry.order_id)
            if order is None or order.is_final:
                closed.append(entry.order_id)  # canceled (or replaced) while held
            elif order.status is Status.ACCEPTED:
                self.queue.requeue(entry.order_id)  # the lane could not commit: try again
            # else a cancel or replace request is on its way to the engine, which settles it
        if closed:
            await self._write(closed)
            for order_id in closed:
                self.queue.remove(order_id)

    async def _close(self, close: datetime) -> None:
        """The close: the closing cross, then day orders expire, then move to the next close.

        A close handled only after the next session opened (the process was down) has no
        closing cross any more: its ``cls`` orders expire with the ``day`` ones.
        """
        opened = self.calendar.next_open(close)
        if opened is None or self._clock.now() < opened:
            await self._closing_cross()
        expiring = self.queue.take_expiring(close)
        now = self._clock.now()
        await self._apply(
            [(e.account_id, _report(ReportKind.EXPIRED, e.order_id, now)) for e in expiring]
        )
        await self._write([entry.order_id for entry in expiring])
        for entry in expiring:
            self.queue.remove(entry.order_id)
        if isinstance(self._venue, DayExpiringVenue):
            self._venue.expire_day()
        self._next_close = self.calendar.next_close(close)
        await self._write([], self._next_close)
        self._changed.set()  # orders held while this close was pending may go now
        log.info("market session: handled the close of %s", close.isoformat())

    async def _closing_cross(self) -> None:
        """Release the due cls orders (at the release rate); return once the engine sent them."""
        while True:
            now = self._clock.now()
            allowance = self.limiter.allowance(now)
            batch = self.queue.take_closing(allowance, now) if allowance else []
            if batch:
                self.limiter.note(now, len(batch))
                await self._release(batch)
            elif not self.queue.closing_due(now):
                break
            else:
                await self._nap(
                    min(self._poll, (self.limiter.next_slot(now) - now).total_seconds())
                )
        await self._drain()  # the engine has sent the closing orders before the day ends

    # -- helpers --------------------------------------------------------------------------------

    def _order(self, account_id: str, order_id: str) -> Order | None:
        order = self._orders.lane_for(account_id).book.orders.get(order_id)
        return order if order is not None and order.account_id == account_id else None

    async def _apply(self, steps: list[tuple[str, Report]]) -> list[Any]:
        """Apply lane steps in order (each account's lane keeps them so); return each outcome."""
        futures: list[asyncio.Future[Any]] = []
        for account_id, report in steps:
            try:
                futures.append(
                    self._orders.submit(ApplyReport(account_id=account_id, report=report))
                )
            except AgoraError as error:
                failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
                failed.set_exception(error)
                futures.append(failed)
        results = list(await asyncio.gather(*futures, return_exceptions=True))
        for (_, report), result in zip(steps, results, strict=True):
            if isinstance(result, AgoraError):
                log.debug("lane refused %s of %s: %s", report.kind, report.order_id, result)
            elif isinstance(result, BaseException):
                log.error(
                    "lane step %s of %s failed", report.kind, report.order_id, exc_info=result
                )
        return results

    async def _stored_close(self) -> datetime | None:
        if self._documents is None:
            return None
        found = dict(await self._documents.documents(SESSION, NEXT_CLOSE))
        value = found.get(NEXT_CLOSE)
        return None if value is None else datetime.fromisoformat(value.decode())

    async def _write(self, deletes: list[str], next_close: datetime | None = None) -> None:
        """Delete queue entries (and record the next close) in the session's own transaction."""
        if not deletes and next_close is None:
            return

        def effect(tx: ProjectionTx) -> None:
            for order_id in deletes:
                tx.delete(QUEUE, order_id)
            if next_close is not None:
                tx.put(SESSION, NEXT_CLOSE, next_close.isoformat().encode())

        await self._checkpoints.apply(
            SESSION, await self._checkpoints.checkpoint(SESSION) + 1, effect
        )


def _report(kind: ReportKind, order_id: str, now: datetime, reason: str | None = None) -> Report:
    return Report(kind=kind, order_id=order_id, timestamp=now, reason=reason)


def _by_arrival(entry: QueuedOrder) -> int:
    return entry.seq
