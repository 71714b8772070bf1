"""The audit writer: follows the outbox from its own position and appends every event to Parquet.

Events are buffered and flushed when ``flush_events`` are waiting or the oldest has waited
``flush_seconds``, and at shutdown (``stop`` writes everything committed so far). The position
lives with the files (``AuditSink``), not in the database, so a restart resumes exactly where
the files end. File work runs on a thread; a failed flush is retried after the sink re-reads the
files, so a partly written flush is completed, never repeated.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agora.audit.layout import AuditLayout, ChainHead
from agora.audit.sink import AuditSink
from agora.core.events import Event

log = logging.getLogger(__name__)


class OutboxReader(Protocol):
    """The outbox as the audit writer reads it."""

    async def fetch_after(self, seq: int, limit: int) -> list[tuple[int, Event]]:
        """Return up to ``limit`` events with sequence numbers greater than ``seq``, in order."""
        ...


@dataclass(frozen=True, slots=True)
class AuditSettings:
    """When the writer flushes and how it polls."""

    flush_events: int = 10_000
    flush_seconds: float = 30.0
    poll_seconds: float = 1.0
    fetch_limit: int = 2_000
    max_backoff_seconds: float = 30.0


class AuditWriter:
    """Writes every outbox event to the audit log, exactly once, in outbox order."""

    def __init__(
        self,
        outbox: OutboxReader,
        data_dir: Path,
        settings: AuditSettings | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._sink = AuditSink(AuditLayout.in_data_dir(data_dir))
        self._settings = settings or AuditSettings()
        self._monotonic = monotonic
        self._buffer: list[tuple[int, Event]] = []
        self._buffer_since = 0.0
        self._cursor = 0
        self._recovered = False
        self._stopping = False
        self._wakeup = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def head(self) -> ChainHead:
        """The last event durably in the files."""
        return self._sink.head

    async def start(self) -> None:
        """Take the log (one writer per folder) and start following from its position.

        Recovery (reading the files' footers) happens in the writer's task: a log it cannot
        read is logged and retried, and never keeps the platform from starting.
        """
        await asyncio.to_thread(self._sink.lock)
        self._recovered = False
        self._stopping = False
        self._stop_requested.clear()
        self._task = asyncio.create_task(self._run(), name="audit-writer")

    def notify(self) -> None:
        """Tell the writer that new events were committed (it also polls)."""
        self._wakeup.set()

    async def stop(self) -> None:
        """Write everything committed so far, then stop and release the log."""
        if self._task is not None:
            self._stopping = True
            self._stop_requested.set()
            self._wakeup.set()
            try:
                await self._task
            finally:
                self._task = None
        await asyncio.to_thread(self._sink.close)

    async def catch_up(self) -> ChainHead:
        """Write everything committed so far and release the log (for tools and tests)."""
        await self.start()
        await self.stop()
        return self.head

    async def _run(self) -> None:
        backoff = 0.05
        while True:
            try:
                if not self._recovered:
                    await asyncio.to_thread(self._sink.recover)
                    self._recovered, self._buffer = True, []
                    self._cursor = self._sink.head.seq
                if await self._cycle():
                    return
                backoff = 0.05
            except Exception:
                log.exception("audit writer failed at seq %d", self._sink.head.seq)
                self._recovered = False
                if self._stopping:
                    await self._last_flush()
                    return
                await _sleep(self._stop_requested, backoff)
                backoff = min(backoff * 2, self._settings.max_backoff_seconds)

    async def _cycle(self) -> bool:
        """Fetch, flush when due; return True once stopping and everything is written."""
        settings = self._settings
        room = settings.flush_events - len(self._buffer)
        fetched = []
        if room > 0:
            fetched = await self._outbox.fetch_after(self._cursor, min(room, settings.fetch_limit))
        if fetched:
            if not self._buffer:
                self._buffer_since = self._monotonic()
            self._buffer.extend(fetched)
            self._cursor = fetched[-1][0]
        waited = self._monotonic() - self._buffer_since
        full = len(self._buffer) >= settings.flush_events
        # Stopping: write everything, in full-sized files while the outbox still has more.
        late = (not fetched) if self._stopping else waited >= settings.flush_seconds
        due = full or late
        if self._buffer and due:
            await self._flush()
        if self._stopping:
            return not fetched and not self._buffer
        if not fetched:
            self._wakeup.clear()
            left = settings.flush_seconds - waited if self._buffer else settings.poll_seconds
            await _sleep(self._wakeup, max(0.0, min(settings.poll_seconds, left)))
        return False

    async def _last_flush(self) -> None:
        """Stopping after a failure: write what is buffered if the files allow it."""
        try:
            await asyncio.to_thread(self._sink.recover)
            await self._flush()
        except Exception:  # the rest is written from the outbox on the next start
            log.exception(
                "audit writer: %d buffered events left for the next start", len(self._buffer)
            )

    async def _flush(self) -> None:
        buffered = self._buffer
        await asyncio.to_thread(self._sink.append, buffered)
        self._buffer = []
        log.debug("audit: flushed %d events up to seq %d", len(buffered), self._sink.head.seq)


async def _sleep(wakeup: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds`` or until woken; a cancellation always goes through."""
    # Not asyncio.wait_for: on 3.11 it can lose a cancellation that races the inner wait.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await wakeup.wait()
