"""Account lanes: every command for an account is applied serially, in memory, then committed.

Each lane is one asyncio task owning the state of its accounts (an ``AccountBook``). It takes
the commands queued for it, applies them one at a time, and hands the resulting batch to the
``GroupCommitter``, which merges the batches of every lane waiting into one transaction. Replies
(including refusals such as risk denials, whose events are recorded) are released only after that
commit. While batch N commits, the lane applies batch N+1 in memory; N+1 is committed only once
N is, so at most one commit per lane is in flight. If a commit fails, that batch and the one
applied behind it fail, and the lane rebuilds its state from the store before answering, so no
answer ever rests on an uncommitted change.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agora.core.clock import Clock
from agora.core.errors import AgoraError, StorageError
from agora.orders.book import AccountBook
from agora.orders.commands import ApplyReport, CancelOrder, Command, PlaceOrder, ReplaceOrder
from agora.orders.ports import LaneSnapshot, LaneStore
from agora.orders.snapshots import split_snapshot

log = logging.getLogger(__name__)

_Item = tuple[Command, "asyncio.Future[Any]"]


@dataclass(frozen=True, slots=True)
class LaneSettings:
    """How many lanes, and how large a batch one lane may apply before it commits."""

    lanes: int = 4
    max_batch: int = 2_000


class GroupCommitter:
    """Merges the batches of all lanes that are waiting into one transaction."""

    def __init__(self, store: LaneStore) -> None:
        self._store = store
        self.listeners: list[Callable[[], None]] = []
        self._waiting: list[tuple[Any, asyncio.Future[None]]] = []  # frozen batches
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the commit loop."""
        self._task = asyncio.create_task(self._run(), name="agora-group-commit")

    async def stop(self) -> None:
        """Stop after committing what is waiting (a flush in progress is never cancelled)."""
        if self._task is not None:
            self._stopping = True
            self._wakeup.set()
            await self._task
            self._task = None

    async def commit(self, batch: Any) -> None:
        """Return once a frozen batch is durably committed (raise StorageError otherwise)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await asyncio.sleep(0)  # let every lane that is ready add its batch to this commit
            await self._flush()
            if self._stopping and not self._waiting:
                return

    async def _flush(self) -> None:
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return
        try:
            await self._store.commit_frozen([batch for batch, _ in waiting])
        except Exception as error:  # every lane waiting learns its batch is not durable
            failure = error if isinstance(error, StorageError) else StorageError(str(error))
            for _, future in waiting:
                if not future.done():
                    future.set_exception(failure)
            return
        for _, future in waiting:
            if not future.done():
                future.set_result(None)
        for listener in self.listeners:
            listener()


class Lane:
    """One serial lane: a queue, a task and the book of its accounts."""

    def __init__(
        self,
        index: int,
        book: AccountBook,
        store: LaneStore,
        committer: GroupCommitter,
        clock: Clock,
        settings: LaneSettings,
    ) -> None:
        self.index = index
        self.book = book
        self._store = store
        self._committer = committer
        self._clock = clock
        self._settings = settings
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the lane's task."""
        self._task = asyncio.create_task(self._run(), name=f"agora-lane-{self.index}")

    async def stop(self) -> None:
        """Finish every queued command, commit, then stop."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
            self._task = None

    @property
    def queue_depth(self) -> int:
        """Commands waiting to be applied."""
        return self._queue.qsize()

    def submit(self, command: Command) -> asyncio.Future[Any]:
        """Queue a command; the future resolves after its effects are committed."""
        if self._task is None:
            raise StorageError("the order service is not running", code="service_unavailable")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((command, future))
        return future

    async def _run(self) -> None:
        previous: asyncio.Task[bool] | None = None
        while True:
            items, stopping = await self._take()
            if items:
                previous = await self._process(items, previous)
            if stopping:
                if previous is not None:
                    await previous
                return

    async def _take(self) -> tuple[list[_Item], bool]:
        first = await self._queue.get()
        if first is None:
            return [], True
        items = [first]
        while len(items) < self._settings.max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return items, True
            items.append(item)
        return items, False

    async def _process(
        self, items: list[_Item], previous: asyncio.Task[bool] | None
    ) -> asyncio.Task[bool] | None:
        """Apply a batch while the previous one commits; commit it only if that one did."""
        await self._prefetch(items)
        if previous is not None and previous.done():
            previous = None  # settled before this batch is applied: its outcome is handled
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        for command, future in items:
            try:
                outcomes.append((future, True, self.book.handle(command, self._clock.now())))
            except AgoraError as refusal:
                outcomes.append((future, False, refusal))
            except Exception:  # a bug mid-command: memory may be torn, so drop the whole batch
                log.exception("lane %d: command failed unexpectedly; reloading", self.index)
                if previous is not None:
                    await previous
                await self._abandon(items, StorageError("internal error; nothing was done"))
                return None
        changes = self.book.take_changes()
        # Frozen now, in the store's own form: the next batch may change these orders at once.
        batch = None if changes.is_empty() else self._store.freeze(changes)
        if previous is not None and not await previous:
            await self._abandon(items, StorageError("an earlier batch failed; nothing was done"))
            return None
        return asyncio.create_task(self._commit(items, batch, outcomes))

    async def _commit(
        self,
        items: list[_Item],
        batch: Any,
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]],
    ) -> bool:
        """Commit a frozen batch and release its replies; on failure reload and fail them all."""
        try:
            if batch is not None:
                await self._committer.commit(batch)
        except StorageError as error:
            await self._abandon(items, error)
            return False
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)
        return True

    async def _abandon(self, items: list[_Item], error: AgoraError) -> None:
        """Drop the batch: rebuild memory from the store first, then fail every command."""
        self.book.take_changes()
        await self.reload()
        for _, future in items:
            if not future.done():
                future.set_exception(error)

    async def reload(self) -> None:
        """Rebuild this lane's state from the store, retrying while the store is down."""
        delay = 0.05
        while True:
            try:
                snapshot = await self._store.load_snapshot()
            except StorageError:
                log.warning("lane %d: store unavailable; retrying in %.2fs", self.index, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            self.book.reset()
            self.book.restore(split_snapshot(snapshot, self.owns))
            return

    def owns(self, account_id: str) -> bool:
        """Whether an account belongs to this lane."""
        return lane_of(account_id, self._settings.lanes) == self.index

    async def _prefetch(self, items: list[_Item]) -> None:
        """Load orders a command refers to that are no longer in memory."""
        for command, _ in items:
            order_id = self._referenced_order(command)
            if order_id is not None and order_id not in self.book.orders:
                order = await self._store.get_order(order_id)
                if order is not None:
                    self.book.orders[order_id] = order

    def _referenced_order(self, command: Command) -> str | None:
        if isinstance(command, CancelOrder | ReplaceOrder):
            return command.order_id
        if isinstance(command, ApplyReport):
            return command.report.order_id
        if isinstance(command, PlaceOrder) and command.client_order_id is not None:
            state = self.book.accounts.get(command.account_id)
            return state.client_order_ids.get(command.client_order_id) if state else None
        return None


def lane_of(account_id: str, lanes: int) -> int:
    """The lane an account belongs to (stable across processes)."""
    return zlib.crc32(account_id.encode()) % lanes


class OrderService:
    """Routes every command to its account's lane and answers after the commit."""

    def __init__(
        self,
        *,
        store: LaneStore,
        make_book: Callable[[], AccountBook],
        clock: Clock,
        settings: LaneSettings | None = None,
    ) -> None:
        self.settings = settings or LaneSettings()
        self._store = store
        self._committer = GroupCommitter(store)
        self.lanes = [
            Lane(i, make_book(), store, self._committer, clock, self.settings)
            for i in range(self.settings.lanes)
        ]

    async def start(self) -> None:
        """Rebuild every lane from the store and start them."""
        snapshot: LaneSnapshot = await self._store.load_snapshot()
        for lane in self.lanes:
            lane.book.restore(split_snapshot(snapshot, lane.owns))
        self._committer.start()
        for lane in self.lanes:
            lane.start()

    async def stop(self) -> None:
        """Drain every lane, commit, and stop."""
        await asyncio.gather(*(lane.stop() for lane in self.lanes))
        await self._committer.stop()

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every group commit (the bus wakes its subscribers)."""
        self._committer.listeners.append(listener)

    async def execute(self, command: Command) -> Any:
        """Apply a command in its account's lane; return its result after the commit."""
        return await self.submit(command)

    def submit(self, command: Command) -> asyncio.Future[Any]:
        """Queue a command in its lane and return the future of its result."""
        return self.lanes[lane_of(command.account_id, self.settings.lanes)].submit(command)

    def lane_for(self, account_id: str) -> Lane:
        """Return the lane that owns ``account_id``."""
        return self.lanes[lane_of(account_id, self.settings.lanes)]
