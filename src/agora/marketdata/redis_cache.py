"""The last-price cache shared through Redis: one writer (market data), mirrors everywhere else.

Scaled shape. The market-data process runs a ``RedisPriceWriter`` as a hub observer; the api and
execution processes read through a ``RedisPriceMirror``, a ``LastPriceCache`` kept in step by a
background task, so the risk engine's synchronous ``PriceSource.quote()`` stays a dict lookup.

In Redis (``P`` is the key prefix, ``agora:`` by default):

- ``P prices``     hash  symbol → msgpack ``StoredPrice(price, as_of, latest)``: the quote the risk
                         rules use (last trade, or the mid of a pure quote) with its feed time, and
                         the merged newest bid/ask/last for the quotes endpoint;
- ``P prices:at``  hash  symbol → ``as_of`` in µs since the epoch: the Lua write keeps the newer of
                         two writes, so a late or duplicate writer never moves a price back;
- ``P price:SYM``  channel of msgpack lists of ``PriceMessage``, in order: every feed update as it
                         came, or the symbol's stored state (the merged newest update, and the
                         quote with its time) when its own updates could not be published. A list
                         holds one update at a trickle and more under load: one message per symbol
                         per write, since parsing a pub/sub message costs a Python reader ~30 µs.
                         The mirrors and the SSE fan-out (``agora.web.redis_fanout``) read it.

The writer never blocks the hub: it merges updates into its own cache, marks the symbol dirty
and queues the update (a bounded deque: when Redis is slow the oldest are dropped and counted);
a task writes the dirty symbols and publishes the queued updates in one script call per batch.
One rule keeps every mirror whole: **a change to the snapshot is published in the same script
call**, as the updates themselves or, for a symbol whose updates were dropped, as its state. So
while Redis is down the writer retries with backoff, and when Redis answers again it rewrites
and republishes the state of every symbol it knows (a restarted Redis without persistence comes
back empty, and mirrors that resubscribed meanwhile hold only what they had).

A mirror subscribes to ``P price:*``, then reads ``P prices`` (so a change made during the read
still arrives afterwards) and applies both with the cache's own rule: newer-or-equal wins.

**Fail closed.** A price's age is always ``now - as_of`` with ``as_of`` the feed's time, so a
mirror that falls behind, or a writer that stops, shows old prices as old and the
``price_freshness`` rule denies on its usual bound. That is not enough on its own: a mirror cut
off from Redis would go on serving the last prices it saw as fresh for up to ``price_max_age_ms``
after the market moved. So ``quote()`` answers None unless the mirror's link is *live*:
resynchronised since its last (re)subscription and heard from (an update, or the answer to its
own PING every ``ping_interval_seconds``) within ``link_timeout_seconds`` (1 s by default). Liveness
is judged when ``quote()`` is called, not by the background task, so a silent partition or a
frozen server also closes the gate on time. Orders are then denied ``price_unavailable``.
``is_stale`` says stale while the link is down. ``latest()`` and ``age()`` keep answering from
the mirror with their feed timestamps: reads (``GET /quotes``, the dashboard) stay served and
honest about age. Clocks of the writer's and readers' machines must agree (NTP): a quote stamped
in the future counts as fresh (ADR 7).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec
from redis.asyncio import Redis

from agora.bus.redis_link import (
    REDIS_DOWN,
    Backoff,
    Subscription,
    as_bytes,
    cancel_and_wait,
    glob_escape,
)
from agora.marketdata.cache import DEFAULT_MAX_AGE, LastPriceCache
from agora.marketdata.records import EPOCH, PriceUpdate
from agora.risk import PriceQuote

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "agora:"
MAX_PENDING_UPDATES = 10_000
BATCH_MAX = 500  # symbols written and updates published per script call
WRITE_TIMEOUT_SECONDS = 1.0
_MICROSECOND = timedelta(microseconds=1)

# KEYS: prices, stamps, marker
# ARGV: channel prefix, n, n × (symbol, as_of µs, record), then m × (symbol, update)
# Returns 1 when the marker was missing: Redis lost its data (a restart) or this is the first write.
_WRITE = """
local fresh = redis.call('SETNX', KEYS[3], '1')
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  local symbol, at = ARGV[i], ARGV[i + 1]
  local stored = redis.call('HGET', KEYS[2], symbol)
  if (not stored) or tonumber(stored) <= tonumber(at) then
    redis.call('HSET', KEYS[1], symbol, ARGV[i + 2])
    redis.call('HSET', KEYS[2], symbol, at)
  end
  i = i + 3
end
while i < #ARGV do
  redis.call('PUBLISH', ARGV[1] .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
return fresh
"""


class StoredPrice(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One symbol's entry in the shared cache: the risk quote and the merged newest update."""

    price: int
    as_of: datetime
    latest: PriceUpdate


class PriceMessage(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """What a symbol's channel carries: one feed update, or (with ``price``) the symbol's state."""

    update: PriceUpdate
    price: int | None = None  # a state: ``update`` is the merged newest, this the quote …
    as_of: datetime | None = None  # … observed then


@dataclass(frozen=True, slots=True)
class PriceKeys:
    """Where the shared cache lives in Redis, under one prefix."""

    prefix: str = DEFAULT_PREFIX

    @property
    def prices(self) -> str:
        """The hash of ``StoredPrice`` records by symbol."""
        return f"{self.prefix}prices"

    @property
    def stamps(self) -> str:
        """The hash of each stored price's ``as_of`` in microseconds."""
        return f"{self.prefix}prices:at"

    @property
    def marker(self) -> str:
        """A key that exists while Redis still holds what the writers wrote."""
        return f"{self.prefix}prices:kept"

    @property
    def channel_prefix(self) -> str:
        """The channel name of a symbol, less the symbol."""
        return f"{self.prefix}price:"

    def channel(self, symbol: str) -> str:
        """The channel that carries ``symbol``'s updates."""
        return f"{self.channel_prefix}{symbol}"

    @property
    def pattern(self) -> str:
        """The pattern matching every symbol's channel."""
        return f"{glob_escape(self.channel_prefix)}*"


encode = msgspec.msgpack.Encoder().encode
decode_messages = msgspec.msgpack.Decoder(list[PriceMessage]).decode
decode_stored = msgspec.msgpack.Decoder(StoredPrice).decode


@dataclass(slots=True)
class WriterStats:
    """What the writer did so far."""

    batches: int = 0
    published: int = 0
    dropped: int = 0  # updates never published: the queue overflowed, or Redis was down
    failures: int = 0


@dataclass(slots=True)
class _Pending:
    dirty: set[str] = field(default_factory=set)  # snapshot entries to write
    resend: set[str] = field(default_factory=set)  # symbols whose state must be published
    updates: deque[PriceUpdate] = field(default_factory=deque)


class RedisPriceWriter:
    """Write every price update to Redis for the other processes (a market-data hub observer)."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_pending_updates: int = MAX_PENDING_UPDATES,
        reconnect_max_seconds: float = 1.0,
    ) -> None:
        self.keys = PriceKeys(prefix)
        self.stats = WriterStats()
        self._client = client
        self._script = client.register_script(_WRITE)
        self._cache = LastPriceCache(max_age=timedelta(0))  # only for its merge rule
        self._known: set[str] = set()
        self._pending = _Pending(updates=deque(maxlen=max_pending_updates))
        self._reconnect_max = reconnect_max_seconds
        self._wakeup = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._failing = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def on_price(self, update: PriceUpdate) -> None:
        """Queue one update for Redis (never waits)."""
        self._cache.on_price(update)
        self._known.add(update.symbol)
        pending = self._pending
        pending.dirty.add(update.symbol)
        if len(pending.updates) == pending.updates.maxlen:
            oldest = pending.updates.popleft()
            self.stats.dropped += 1
            pending.dirty.add(oldest.symbol)
            pending.resend.add(oldest.symbol)  # its mirrors learn of it from its state
        pending.updates.append(update)
        self._drained.clear()
        self._wakeup.set()

    def on_prices(self, updates: Iterable[PriceUpdate]) -> None:
        """Queue updates in order (a hub batch observer)."""
        for update in updates:
            self.on_price(update)

    async def start(self) -> None:
        """Start the task that writes to Redis."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="redis-price-writer")

    async def stop(self, *, flush_seconds: float = 1.0) -> None:
        """Write what is pending (for at most ``flush_seconds``), then stop."""
        await self.flush(flush_seconds)
        self._stopping = True  # ends the loop even if a driver call swallows the cancellation
        self._wakeup.set()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def flush(self, timeout_seconds: float) -> bool:
        """Wait until everything queued so far is in Redis; return whether it got there in time."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_seconds):
                await self._drained.wait()
        return self._drained.is_set()

    async def _run(self) -> None:
        backoff = Backoff(cap_seconds=self._reconnect_max)
        while not self._stopping:
            await self._wakeup.wait()
            self._wakeup.clear()
            while (self._pending.dirty or self._pending.updates) and not self._stopping:
                try:
                    await self._write_batch()
                except REDIS_DOWN as exc:
                    self._failed(exc)
                    await asyncio.sleep(backoff.next())
                    continue
                if self._failing:
                    log.warning("redis price writer: Redis answers again; prices rewritten")
                    self._failing = False
                backoff.reset()
            if not (self._pending.dirty or self._pending.updates):
                self._drained.set()

    async def _write_batch(self) -> None:
        pending = self._pending
        symbols = [pending.dirty.pop() for _ in range(min(BATCH_MAX, len(pending.dirty)))]
        updates = [pending.updates.popleft() for _ in range(min(BATCH_MAX, len(pending.updates)))]
        states: list[str] = []
        entries: list[str | bytes] = []
        by_symbol: dict[str, list[PriceMessage]] = {}
        for update in updates:
            by_symbol.setdefault(update.symbol, []).append(PriceMessage(update))
        for symbol in symbols:
            quote, latest = self._cache.quote(symbol), self._cache.latest(symbol)
            if quote is None or latest is None:  # an update without any price: nothing to store
                continue
            record = StoredPrice(price=quote.price, as_of=quote.as_of, latest=latest)
            entries += [symbol, str(_micros(quote.as_of)), encode(record)]
            if symbol in pending.resend:
                states.append(symbol)
                state = PriceMessage(latest, quote.price, quote.as_of)
                by_symbol.setdefault(symbol, []).append(state)
        messages: list[str | bytes] = []
        for symbol, listed in by_symbol.items():
            messages += [symbol, encode(listed)]
        args = [self.keys.channel_prefix, str(len(entries) // 3), *entries, *messages]
        try:
            async with asyncio.timeout(WRITE_TIMEOUT_SECONDS):
                keys = [self.keys.prices, self.keys.stamps, self.keys.marker]
                fresh = await self._script(keys=keys, args=args)
        except BaseException:
            pending.dirty.update(symbols)  # the newest price is still worth writing later
            pending.resend.update(update.symbol for update in updates)
            self.stats.dropped += len(updates)  # old news by then: the states replace them
            raise
        pending.resend.difference_update(states)
        if fresh and self.stats.batches and not self._failing:  # emptied between two writes
            log.warning("redis price writer: Redis lost its data; rewriting every price")
            self._rewrite_all()
        self.stats.batches += 1
        self.stats.published += len(updates)

    def _failed(self, exc: BaseException) -> None:
        self.stats.failures += 1
        if not self._failing:
            log.warning("redis price writer: Redis unavailable (%s); retrying", exc)
            self._failing = True
        self._rewrite_all()

    def _rewrite_all(self) -> None:
        # Redis may come back empty, and mirrors may resubscribe to it before the rewrite
        self._pending.dirty.update(self._known)
        self._pending.resend.update(self._known)


class RedisPriceMirror(LastPriceCache):
    """A last-price cache kept in step with Redis; its risk quotes fail closed without a link."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_age: timedelta = DEFAULT_MAX_AGE,
        ping_interval_seconds: float = 0.25,
        link_timeout_seconds: float = 1.0,
        reconnect_max_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_age=max_age)
        self.keys = PriceKeys(prefix)
        self._client = client
        self.link = Subscription(
            client,
            name="price-mirror",
            patterns=(self.keys.pattern,),
            on_message=self._on_message,
            on_subscribed=self._resync,
            ping_interval_seconds=ping_interval_seconds,
            link_timeout_seconds=link_timeout_seconds,
            reconnect_max_seconds=reconnect_max_seconds,
            monotonic=monotonic,
        )

    @property
    def linked(self) -> bool:
        """Whether the mirror is in step with Redis right now."""
        return self.link.live

    async def start(self, *, wait_seconds: float = 0.0) -> bool:
        """Start following Redis; wait up to ``wait_seconds`` for the first sync."""
        await self.link.start()
        return await self.link.wait_live(wait_seconds) if wait_seconds > 0 else self.linked

    async def stop(self) -> None:
        """Stop following Redis (quotes answer None from now on)."""
        await self.link.stop()

    def quote(self, symbol: str) -> PriceQuote | None:
        """Return the last price of ``symbol`` while the link is live, else None (fail closed)."""
        if not self.link.live:
            return None
        return super().quote(symbol)

    def is_stale(self, symbol: str, now: datetime) -> bool:
        """Tell whether the link is down, or ``symbol``'s price is missing or too old."""
        return not self.link.live or super().is_stale(symbol, now)

    def _on_message(self, channel: bytes, data: bytes) -> None:
        for message in decode_messages(data):
            self.on_price(message.update)
            if message.price is not None and message.as_of is not None:  # a state: its quote
                self.update(message.update.symbol, message.price, message.as_of)

    async def _resync(self) -> None:
        stored = await self._client.hgetall(self.keys.prices)
        for symbol, raw in stored.items():
            try:
                record = decode_stored(as_bytes(raw))
            except msgspec.DecodeError:
                log.warning("redis price mirror: unreadable record for %r", symbol)
                continue
            self.on_price(record.latest)  # its merged bid, ask and last
            self.update(record.latest.symbol, record.price, record.as_of)  # the exact quote


def _micros(moment: datetime) -> int:
    return (moment - EPOCH) // _MICROSECOND
