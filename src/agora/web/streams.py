"""Server-Sent Events fan-out: each connection gets a bounded queue; a slow one is dropped.

``OrderStream`` follows the outbox (the system of record's own event order) from where it starts,
and hands each account's order events to that account's connections; an event's outbox sequence
number is its SSE ``id``, so ``Last-Event-ID`` resumes from the outbox without gaps or repeats.
``PriceStream`` hands price updates to the connections that asked for their symbol.

A connection whose queue is full is closed with a final ``overflow`` event that tells the client
to reconnect (with ``Last-Event-ID`` for orders); the others never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from agora.bus.ports import AccountOutbox
from agora.core.events import Event, EventType, JsonValue

log = logging.getLogger(__name__)

ORDER_EVENT_PREFIX = "order."
QUEUE_LIMIT = 1_000
HEARTBEAT_SECONDS = 15.0

_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True, slots=True)
class Message:
    """One SSE message: its event name, JSON data and optional id."""

    event: str
    data: bytes
    id: int | None = None

    def encode(self) -> bytes:
        """The message on the wire."""
        head = f"id: {self.id}\n" if self.id is not None else ""
        return f"{head}event: {self.event}\n".encode() + b"data: " + self.data + b"\n\n"


OVERFLOW = Message(
    "overflow", _encode({"message": "too slow: reconnect (with Last-Event-ID to resume)"})
)
HEARTBEAT = b": heartbeat\n\n"


@dataclass(eq=False, slots=True)
class Connection:
    """One client's queue; ``closed`` once it overflowed or left."""

    queue: asyncio.Queue[Message] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False
    # the client has every message up to this id (its Last-Event-ID): those are never repeated,
    # even when this process's follower is behind the id (the client read it from a replica)
    seen_up_to: int = 0

    def offer(self, message: Message) -> None:
        """Queue ``message``, or mark the connection overflowed (never waits)."""
        if self.overflowed or (message.id is not None and message.id <= self.seen_up_to):
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.overflowed = True


async def sse_body(
    connection: Connection, first: Iterable[Message], heartbeat_seconds: float
) -> AsyncIterator[bytes]:
    """Write ``first``, then the connection's messages with heartbeats, until it overflows."""
    for message in first:
        yield message.encode()
    while True:
        if connection.overflowed and connection.queue.empty():
            yield OVERFLOW.encode()
            return
        try:
            async with asyncio.timeout(heartbeat_seconds):
                message = await connection.queue.get()
        except TimeoutError:
            yield HEARTBEAT
            continue
        yield message.encode()


def order_message(seq: int, event: Event) -> Message:
    """An order event as the order stream shows it: ``{event, order, fill?}``."""
    order = dict(event.payload)
    fill = order.pop("fill", None)
    order.pop("event", None)
    data: dict[str, JsonValue] = {"event": event.type, "order": order}
    if fill is not None:
        data["fill"] = fill
    return Message("order", _encode(data), seq)


class OrderStream:
    """Follow the outbox and fan each account's order events out to its connections."""

    def __init__(
        self,
        outbox: AccountOutbox,
        *,
        chunk: int = 1_000,
        observe_fill: Callable[[float], None] | None = None,
    ) -> None:
        self._outbox = outbox
        self._chunk = chunk
        self._observe_fill = observe_fill  # seconds from an order's creation to each fill
        self._by_account: dict[str, set[Connection]] = {}
        self._position = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def position(self) -> int:
        """The last outbox sequence number handed out."""
        return self._position

    async def start(self) -> None:
        """Start following from the outbox's current end."""
        self._position = await self._last_seq()
        self._task = asyncio.create_task(self._follow(), name="sse-orders")

    async def stop(self) -> None:
        """Stop following."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def notify(self) -> None:
        """Tell the stream that new events were committed."""
        self._wakeup.set()

    def subscribers(self) -> int:
        """How many connections are attached."""
        return sum(len(connections) for connections in self._by_account.values())

    async def attach(
        self, account_id: str, last_event_id: int | None
    ) -> tuple[Connection, list[Message]]:
        """Attach a connection; return it with the missed events after ``last_event_id``."""
        connection = Connection(seen_up_to=last_event_id or 0)
        self._by_account.setdefault(account_id, set()).add(connection)
        if last_event_id is None:
            return connection, []
        try:  # what is dispatched from now on goes to the queue; read what came before it
            missed = await self._missed(account_id, last_event_id, self._position)
        except BaseException:
            self.detach(account_id, connection)  # nobody will read it: never leave it attached
            raise
        return connection, missed

    async def _missed(self, account_id: str, after: int, upto: int) -> list[Message]:
        """The account's order events with ``after`` < seq <= ``upto``, from the outbox."""
        missed: list[Message] = []
        position = after
        while position < upto:
            events = await self._outbox.fetch_account_after(account_id, position, self._chunk)
            if not events:
                break
            for seq, event in events:
                if seq > upto:
                    break
                if _for_account(event, account_id):
                    missed.append(order_message(seq, event))
            position = events[-1][0]
        return missed

    def detach(self, account_id: str, connection: Connection) -> None:
        """Forget a connection (the client left or was dropped)."""
        connections = self._by_account.get(account_id)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._by_account[account_id]

    async def _last_seq(self) -> int:
        position = 0
        while events := await self._outbox.fetch_after(position, self._chunk * 10):
            position = events[-1][0]
        return position

    async def _follow(self) -> None:
        while True:
            try:
                events = await self._outbox.fetch_after(self._position, self._chunk)
            except Exception:
                log.exception("the order stream could not read the outbox; retrying")
                await asyncio.sleep(0.5)
                continue
            for seq, event in events:
                self._dispatch(seq, event)
                self._position = seq
            if not events:
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.5):
                        await self._wakeup.wait()

    def _dispatch(self, seq: int, event: Event) -> None:
        if event.account_id is None or not event.type.startswith(ORDER_EVENT_PREFIX):
            return
        if event.type == EventType.ORDER_FILLED and self._observe_fill is not None:
            self._observe_fill(_fill_latency(event))
        connections = self._by_account.get(event.account_id)
        if connections:
            message = order_message(seq, event)
            for connection in connections:
                connection.offer(message)


def _fill_latency(event: Event) -> float:
    """Seconds from the order's creation to this fill (0 when the payload lacks the time)."""
    created = event.payload.get("created_at")
    if not isinstance(created, str):
        return 0.0
    try:
        return max((event.timestamp - datetime.fromisoformat(created)).total_seconds(), 0.0)
    except ValueError:
        return 0.0


def _for_account(event: Event, account_id: str) -> bool:
    return event.account_id == account_id and event.type.startswith(ORDER_EVENT_PREFIX)


class PriceStream:
    """Fan price updates out to the connections that asked for their symbols."""

    def __init__(self, snapshot: Callable[[str], dict[str, JsonValue] | None]) -> None:
        self._snapshot = snapshot
        self._by_symbol: dict[str, set[Connection]] = {}

    def attach(self, symbols: Iterable[str]) -> tuple[Connection, list[Message]]:
        """Attach a connection to ``symbols``; return it with each symbol's last price."""
        connection = Connection()
        first: list[Message] = []
        for symbol in symbols:
            self._by_symbol.setdefault(symbol, set()).add(connection)
            last = self._snapshot(symbol)
            if last is not None:
                first.append(Message("price", _encode(last)))
        return connection, first

    def detach(self, symbols: Iterable[str], connection: Connection) -> None:
        """Forget a connection."""
        for symbol in symbols:
            connections = self._by_symbol.get(symbol)
            if connections is not None:
                connections.discard(connection)
                if not connections:
                    del self._by_symbol[symbol]

    def subscribers(self) -> int:
        """How many (connection, symbol) subscriptions there are."""
        return sum(len(connections) for connections in self._by_symbol.values())

    def publish(self, symbol: str, price: dict[str, JsonValue]) -> None:
        """Hand one price update to every connection that follows ``symbol``."""
        connections = self._by_symbol.get(symbol)
        if connections:
            message = Message("price", _encode(price))
            for connection in connections:
                connection.offer(message)
