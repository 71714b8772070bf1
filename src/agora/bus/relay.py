"""The outbox relay: publishes committed outbox events to the broker, at least once.

One step reads the next chunk after the relay's position (``published_seq``), routes each event
to its topics (``agora.bus.routing``), hands the records to the ``Publisher`` and waits for the
broker's acknowledgements, then marks the chunk published. A crash (or a failed publish) between
publishing and marking publishes the chunk again: consumers deduplicate by the outbox sequence
number each record carries. Chunks go one at a time, so what the broker holds for a partition is
always every earlier record of that partition plus, after a retry, copies of some of them.

Each record also names the seq of the record before it in its partition (``agora-prev``), a
property of the outbox alone, so retries and other relays write the same value: a consumer that
sees a predecessor it never applied knows its partition's log lost records (``agora.bus.kafka``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Hashable
from dataclasses import replace

from agora.bus.ports import OutboundRecord, OutboxStore, Publisher
from agora.bus.routing import PREV_HEADER, records_for

log = logging.getLogger(__name__)

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 5.0
CHAIN_WINDOW = 10_000
"""How many events before its position a (re)started relay reads to learn each partition's last
seq; a partition with no event among them starts without a ``agora-prev`` (not checked)."""


class OutboxRelay:
    """Follows the outbox from its published position and publishes every event."""

    def __init__(
        self,
        outbox: OutboxStore,
        publisher: Publisher,
        *,
        chunk: int = 500,
        poll_seconds: float = 0.5,
        max_backoff_s: float = MAX_BACKOFF_S,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._chunk = chunk
        self._poll_seconds = poll_seconds
        self._max_backoff_s = max_backoff_s
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._rewound_to: int | None = None
        self._chain: dict[Hashable, int] = {}  # ordering unit → last seq published in it
        self._chain_position = -1  # the seq ``_chain`` is correct at (-1: not known)
        self.published = 0
        """Events handed to the broker and acknowledged by this relay (copies included)."""

    def notify(self) -> None:
        """Tell the relay that new events were committed."""
        self._wakeup.set()

    def start(self) -> None:
        """Start publishing in a background task."""
        if self._task is None:
            self._task = asyncio.create_task(self._follow(), name="outbox-relay")

    async def stop(self) -> None:
        """Stop publishing (what was not marked published is published after a start)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def rewind(self, after_seq: int) -> None:
        """Publish again every event after ``after_seq`` (once the broker lost what it had).

        The stored position never moves backwards; the relay republishes from ``after_seq`` until
        it passes the stored position, then goes on as usual. Consumers skip the copies.
        """
        self._rewound_to = after_seq
        self.notify()

    async def publish_pending(self) -> int:
        """Publish everything committed so far, then return how many events were published."""
        total = 0
        while moved := await self.step():
            total += moved
        return total

    async def step(self) -> int:
        """Publish the next chunk and mark it published; return its number of events."""
        stored = await self._outbox.published_seq()
        position = stored if self._rewound_to is None else min(self._rewound_to, stored)
        events = await self._outbox.fetch_after(position, self._chunk)
        if not events:
            self._rewound_to = None
            return 0
        chain = dict(await self._chain_at(position))
        records: list[OutboundRecord] = []
        for seq, event in events:
            for record in records_for(seq, event):
                unit = self._publisher.ordering_unit(record)
                records.append(_with_prev(record, chain.get(unit)))
                chain[unit] = seq
        await self._publisher.publish(records)
        last = events[-1][0]
        await self._outbox.mark_published(last)  # never backwards: a no-op while rewound
        self._chain, self._chain_position = chain, last  # only once the chunk is marked
        if self._rewound_to is not None:
            self._rewound_to = last if last < stored else None
        self.published += len(events)
        return len(events)

    async def _chain_at(self, position: int) -> dict[Hashable, int]:
        """Return the last seq before ``position`` of each ordering unit (as far as known).

        Kept from the previous chunk; otherwise (a start, a rewind, another relay that moved
        the position) rebuilt from the events just before ``position``.
        """
        if self._chain_position == position:
            return self._chain
        start = max(0, position - CHAIN_WINDOW)
        chain: dict[Hashable, int] = {}
        while start < position and (events := await self._outbox.fetch_after(start, self._chunk)):
            for seq, event in events:
                if seq > position:
                    break
                for record in records_for(seq, event):
                    chain[self._publisher.ordering_unit(record)] = seq
            start = events[-1][0]
        self._chain, self._chain_position = chain, position
        return chain

    async def _follow(self) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                moved = await self.step()
            except Exception:
                log.exception("the outbox relay failed; retrying in %.2fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            backoff = FIRST_BACKOFF_S
            if moved == 0:
                self._wakeup.clear()
                await _wait(self._wakeup, self._poll_seconds)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Wait for ``event`` at most ``seconds``; a cancellation always goes through."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _with_prev(record: OutboundRecord, prev: int | None) -> OutboundRecord:
    """Add the seq of the previous record of the same ordering unit, when known."""
    if prev is None:
        return record
    return replace(record, headers=(*record.headers, (PREV_HEADER, str(prev).encode())))
