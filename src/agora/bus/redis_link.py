"""Redis plumbing for the scaled shape: fail-fast clients and a watched pub/sub subscription.

A ``Subscription`` keeps one pub/sub connection subscribed to its channels and patterns, hands
each message to a handler, and knows whether it is *live*: subscribed, resynchronised after its
last (re)subscription, and heard from (a message or the answer to its own ``PING``) within
``link_timeout_seconds``. Liveness is judged from the clock at the moment it is asked, so a link
that dies silently (a partition, a frozen server: no reset, no error) stops being live on time
even though nothing was read. A lost link is closed and opened again with a capped, jittered
backoff; every (re)subscription runs the owner's ``on_subscribed`` (it reads the snapshot that
pub/sub cannot replay) before the link counts as live again. Messages published while the
snapshot is read are delivered after it, so nothing between the two is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
"""What a Redis call raises when the server is unreachable, slow or refusing."""

MessageHandler = Callable[[bytes, bytes], None]  # (channel, data)
Resync = Callable[[], Awaitable[None]]

YIELD_EVERY_MESSAGES = 256  # a flood of buffered messages must not starve the event loop


def connect(url: str, *, connect_timeout_seconds: float = 0.5, max_connections: int = 64) -> Redis:
    """Return a client for Agora's Redis calls, each of which the caller bounds itself.

    No ``socket_timeout`` (redis-py's default is 5 s): with one, redis-py writes every command
    through ``asyncio.wait_for``, which on Python 3.11 can swallow a cancellation that lands as
    the write completes (fixed in 3.12): a stopped task then runs on, and a cancelled request
    carries a pending cancellation into its next ``asyncio.timeout``. Every call made here sits
    inside an ``asyncio.timeout`` of its caller instead. One immediate retry replaces a pooled
    connection that died with a restarted server; the default policy (ten tries with backoff)
    would hold a request for seconds.
    """
    client: Redis = Redis.from_url(
        url,
        socket_timeout=None,  # the driver's default is 5 s
        socket_connect_timeout=connect_timeout_seconds,
        retry=Retry(NoBackoff(), 1),
        max_connections=max_connections,
    )
    return client


def as_bytes(value: bytes | str) -> bytes:
    """Return a reply value as bytes (the client is built without ``decode_responses``)."""
    return value if isinstance(value, bytes) else value.encode()


def glob_escape(text: str) -> str:
    """Escape ``text`` for a Redis glob pattern (``PSUBSCRIBE``, ``SCAN MATCH``)."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


async def cancel_and_wait(task: asyncio.Task[None], *, timeout_seconds: float = 2.0) -> bool:
    """Cancel ``task`` and wait for it to end, for at most ``timeout_seconds``; say whether it did.

    A shutdown must not hang on a task stuck inside a driver call: such a task is logged (with
    where it is stuck) and left behind.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=timeout_seconds)
    if not done:
        log.error(
            "task %s did not stop in %.1f s; stuck at:%s",
            task.get_name(),
            timeout_seconds,
            _awaiting(task.get_coro()),
        )
        return False
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s had failed", task.get_name(), exc_info=task.exception())
    return True


def _awaiting(awaitable: object) -> str:
    """Where a suspended coroutine chain is waiting, innermost last."""
    lines: list[str] = []
    while awaitable is not None and len(lines) < 50:
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            lines.append(f"\n  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        else:
            lines.append(f"\n  {awaitable!r}")
        awaitable = getattr(awaitable, "cr_await", None) or getattr(awaitable, "gi_yieldfrom", None)
    return "".join(lines)


class Backoff:
    """Capped exponential delays with jitter: 50 ms, 100 ms, … up to ``cap_seconds``."""

    def __init__(self, *, base_seconds: float = 0.05, cap_seconds: float = 1.0) -> None:
        self._base = base_seconds
        self._cap = cap_seconds
        self._attempt = 0

    def next(self) -> float:
        """Return the next delay (between half and all of the nominal one)."""
        nominal = min(self._cap, self._base * 2.0**self._attempt)
        self._attempt = min(self._attempt + 1, 30)
        return nominal * (0.5 + random.random() / 2)  # jitter only: no secret depends on it

    def reset(self) -> None:
        """Start again from the shortest delay."""
        self._attempt = 0


class LinkSilentError(Exception):
    """Raise when the server has not answered within the link timeout."""


_LINK_DOWN: tuple[type[BaseException], ...] = (*REDIS_DOWN, LinkSilentError)


class Subscription:
    """Keep a pub/sub connection subscribed, resynchronised and known to be live (or not)."""

    def __init__(
        self,
        client: Redis,
        *,
        name: str,
        on_message: MessageHandler,
        on_subscribed: Resync,
        channels: Sequence[str] = (),
        patterns: Sequence[str] = (),
        ping_interval_seconds: float = 0.25,
        link_timeout_seconds: float = 1.0,
        reconnect_max_seconds: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not channels and not patterns:
            raise ValueError("a subscription needs a channel or a pattern")
        if not 0 < ping_interval_seconds < link_timeout_seconds:
            raise ValueError("the ping interval must be positive and below the link timeout")
        self.name = name
        self._client = client
        self._on_message = on_message
        self._on_subscribed = on_subscribed
        self._channels = tuple(channels)
        self._patterns = tuple(patterns)
        self._ping_interval = ping_interval_seconds
        self._link_timeout = link_timeout_seconds
        self._backoff = Backoff(cap_seconds=reconnect_max_seconds)
        self._monotonic = monotonic
        self._synced = False
        self._heard_at = float("-inf")
        self._live_event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.messages = 0
        self.failed_messages = 0
        self.reconnects = 0

    @property
    def live(self) -> bool:
        """Whether the link is resynchronised and was heard from within the link timeout."""
        return self._synced and self._monotonic() - self._heard_at <= self._link_timeout

    async def start(self) -> None:
        """Start the background task that keeps the link up."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"redis-{self.name}")

    async def stop(self) -> None:
        """Stop the task and close the connection."""
        self._stopping = True  # ends the loops even if a driver call swallows the cancellation
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self._lost()

    async def wait_live(self, timeout_seconds: float) -> bool:
        """Wait until the link is live; return whether it became live in time."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_seconds):
                while not self.live:
                    self._live_event.clear()
                    await self._live_event.wait()
        return self.live

    def _lost(self) -> None:
        self._synced = False
        self._live_event.clear()

    async def _run(self) -> None:
        while not self._stopping:
            pubsub: Any = self._client.pubsub()  # the driver's PubSub is partly untyped
            try:
                await self._session(pubsub)
            except _LINK_DOWN as exc:
                if self._synced:  # say it once per outage, not once per attempt
                    log.warning("redis link %s lost (%s); reconnecting", self.name, exc)
                else:
                    log.debug("redis link %s still down (%s)", self.name, exc)
            except Exception:  # a bug in a resync must not end the link for good
                log.exception("redis link %s failed; reconnecting", self.name)
            finally:
                self._lost()
                with contextlib.suppress(*REDIS_DOWN):
                    await pubsub.aclose()
            self.reconnects += 1
            await asyncio.sleep(self._backoff.next())

    async def _session(self, pubsub: Any) -> None:
        self._lost()
        loop = asyncio.get_running_loop()
        subscriptions = len(self._channels) + len(self._patterns)
        self._heard_at = pinged_at = self._monotonic()  # the subscription must answer in time
        # every call is bounded: a (re)connect's handshake has no timeout of its own, and a
        # partitioned server (no reset) would hold it for as long as TCP retries. One deadline,
        # moved ahead only when half spent, keeps the bound without a timer per message.
        bound = self._link_timeout + self._ping_interval
        async with asyncio.timeout(bound) as deadline:
            if self._channels:
                await pubsub.subscribe(*self._channels)
            if self._patterns:
                await pubsub.psubscribe(*self._patterns)
            handled = 0
            while not self._stopping:
                if (deadline.when() or 0.0) - loop.time() < bound / 2:
                    deadline.reschedule(loop.time() + bound)
                message = await pubsub.get_message(timeout=self._ping_interval)
                now = self._monotonic()
                if message is not None:
                    self._heard_at = now
                    kind = message["type"]
                    if kind in ("message", "pmessage"):
                        self._deliver(message["channel"], message["data"])
                        handled += 1
                        if handled % YIELD_EVERY_MESSAGES == 0:
                            await asyncio.sleep(0)
                    elif kind in ("subscribe", "psubscribe"):
                        # the driver may resubscribe on its own after a reconnect: resync each
                        # time the whole set is in place, and count as not live until then
                        if message["data"] == subscriptions:
                            deadline.reschedule(loop.time() + bound)
                            await self._resync()
                        else:
                            self._lost()
                    continue
                if now - self._heard_at > self._link_timeout:
                    raise LinkSilentError(f"no answer for {now - self._heard_at:.2f} s")
                if now - pinged_at >= self._ping_interval:
                    await pubsub.ping()
                    pinged_at = now

    async def _resync(self) -> None:
        self._lost()
        async with asyncio.timeout(self._link_timeout):
            await self._on_subscribed()
        self._synced = True
        self._heard_at = self._monotonic()
        self._backoff.reset()
        self._live_event.set()
        log.info("redis link %s live", self.name)

    def _deliver(self, channel: bytes, data: bytes) -> None:
        self.messages += 1
        try:
            self._on_message(channel, data)
        except Exception:  # one bad message never takes the link down
            self.failed_messages += 1
            if self.failed_messages == 1 or self.failed_messages % 1_000 == 0:
                log.exception("redis link %s: a message handler failed", self.name)
