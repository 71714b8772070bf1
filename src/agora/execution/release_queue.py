"""The overnight queue: orders Agora holds until the market opens (or closes), and their pace.

Pure: the caller hands in the time. ``ReleaseQueue`` keeps each account's queued orders in
arrival order (the outbox sequence number of their ``order.submitted``) and hands them out
round-robin across accounts, ``opg`` orders (the opening cross) before the rest; ``cls`` orders
wait for the close. ``ReleaseLimiter`` caps how many are released in any one second of the
clock. ``ADR 12`` explains the choices.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from agora.core.errors import ValidationError


class Phase(StrEnum):
    """When a queued order is released."""

    OPENING = "opening"  # opg: the opening cross, first at the open
    SESSION = "session"  # every other order but cls: while the market is open
    CLOSING = "closing"  # cls: at the close


DAY_TIMES_IN_FORCE = frozenset({"day", "opg", "cls"})
"""Queued orders that expire, unreleased, when their session closes."""


def phase_of(time_in_force: str) -> Phase:
    """Return the phase an order with ``time_in_force`` is released in."""
    if time_in_force == "opg":
        return Phase.OPENING
    if time_in_force == "cls":
        return Phase.CLOSING
    return Phase.SESSION


class QueuedOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order held by Agora: who placed it, when it arrived, and when it may go."""

    order_id: str
    account_id: str
    time_in_force: str
    seq: int  # the outbox sequence number of its order.submitted: the arrival order
    due: datetime  # not released before this moment (a session's open or close)

    @property
    def phase(self) -> Phase:
        """Return when this order is released."""
        return phase_of(self.time_in_force)


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(QueuedOrder)


def encode_entry(entry: QueuedOrder) -> bytes:
    """Encode a queue entry for its projection document."""
    return _ENCODER.encode(entry)


def decode_entry(data: bytes) -> QueuedOrder:
    """Decode a queue entry from its projection document."""
    return _DECODER.decode(data)


class _Line:
    """One phase's waiting orders: a FIFO per account, accounts in round-robin order."""

    __slots__ = ("accounts",)

    def __init__(self) -> None:
        self.accounts: OrderedDict[str, deque[QueuedOrder]] = OrderedDict()

    def add(self, entry: QueuedOrder) -> None:
        queue = self.accounts.setdefault(entry.account_id, deque())
        if not queue or queue[-1].seq < entry.seq:
            queue.append(entry)
            return
        # A requeued order goes back to its arrival place (rare; linear is fine).
        index = next(i for i, queued in enumerate(queue) if queued.seq > entry.seq)
        queue.insert(index, entry)

    def discard(self, entry: QueuedOrder) -> None:
        queue = self.accounts.get(entry.account_id)
        if queue is None:
            return
        try:
            queue.remove(entry)
        except ValueError:
            return
        if not queue:
            del self.accounts[entry.account_id]

    def take(self, limit: int, now: datetime) -> list[QueuedOrder]:
        """Take up to ``limit`` due orders, one per account per round."""
        taken: list[QueuedOrder] = []
        while len(taken) < limit:
            moved = False
            for account_id in list(self.accounts):
                if len(taken) >= limit:
                    break
                queue = self.accounts[account_id]
                if queue[0].due > now:
                    continue  # this account's next order is not due: its later ones wait too
                taken.append(queue.popleft())
                moved = True
                if queue:
                    self.accounts.move_to_end(account_id)
                else:
                    del self.accounts[account_id]
            if not moved:
                break
        return taken

    def drop(self, doomed: set[str]) -> None:
        """Remove the orders in ``doomed`` (one pass, for many at once)."""
        for account_id in list(self.accounts):
            kept = deque(e for e in self.accounts[account_id] if e.order_id not in doomed)
            if kept:
                self.accounts[account_id] = kept
            else:
                del self.accounts[account_id]

    def entries(self) -> Iterator[QueuedOrder]:
        return (entry for queue in self.accounts.values() for entry in queue)

    def __bool__(self) -> bool:
        return bool(self.accounts)


class ReleaseQueue:
    """Orders Agora holds, each either waiting for its moment or handed on and not yet settled.

    Every entry mirrors a projection document; an entry that is not waiting is in flight (its
    release was asked of the lane, or a cancel or replace request for it is on its way).
    """

    def __init__(self) -> None:
        self._entries: dict[str, QueuedOrder] = {}
        self._waiting: set[str] = set()
        self._lines = {phase: _Line() for phase in Phase}
        # Per phase, (due, seq, order id) of waiting orders; stale rows are dropped when seen.
        self._dues: dict[Phase, list[tuple[datetime, int, str]]] = {phase: [] for phase in Phase}

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, order_id: str) -> QueuedOrder | None:
        """Return the entry of ``order_id``, or None."""
        return self._entries.get(order_id)

    def add(self, entry: QueuedOrder, *, waiting: bool = True) -> None:
        """Hold an order: waiting for its moment, or (``waiting=False``) in flight."""
        if entry.order_id in self._entries:
            self.remove(entry.order_id)
        self._entries[entry.order_id] = entry
        if waiting:
            self._wait(entry)

    def requeue(self, order_id: str) -> None:
        """Put an order in flight back in line, at its arrival place."""
        entry = self._entries.get(order_id)
        if entry is not None and order_id not in self._waiting:
            self._wait(entry)

    def remove(self, order_id: str) -> None:
        """Forget an order (released and sent, canceled, expired or closed); no error if absent."""
        entry = self._entries.pop(order_id, None)
        if entry is not None and order_id in self._waiting:
            self._waiting.discard(order_id)
            self._lines[entry.phase].discard(entry)

    def backlog(self, now: datetime) -> bool:
        """Tell whether orders due by ``now`` wait to be released in a session (not cls)."""
        due = self.next_due((Phase.OPENING, Phase.SESSION))
        return due is not None and due <= now

    def holds_for_session(self) -> bool:
        """Tell whether any order waits for a session (opg or not, but not cls)."""
        return bool(self._lines[Phase.OPENING]) or bool(self._lines[Phase.SESSION])

    def take(self, limit: int, now: datetime) -> list[QueuedOrder]:
        """Take up to ``limit`` due orders for an open market: opg first, round-robin."""
        taken = self._lines[Phase.OPENING].take(limit, now)
        taken += self._lines[Phase.SESSION].take(limit - len(taken), now)
        self._waiting.difference_update(entry.order_id for entry in taken)
        return taken

    def take_closing(self, limit: int, now: datetime) -> list[QueuedOrder]:
        """Take up to ``limit`` due cls orders for the closing cross, round-robin."""
        taken = self._lines[Phase.CLOSING].take(limit, now)
        self._waiting.difference_update(entry.order_id for entry in taken)
        return taken

    def closing_due(self, now: datetime) -> bool:
        """Tell whether a cls order is due at ``now``."""
        due = self.next_due((Phase.CLOSING,))
        return due is not None and due <= now

    def take_expiring(self, close: datetime) -> list[QueuedOrder]:
        """Take the waiting day, opg and cls orders whose session ended at ``close``."""
        expiring = [
            entry
            for line in self._lines.values()
            for entry in line.entries()
            if entry.time_in_force in DAY_TIMES_IN_FORCE and entry.due <= close
        ]
        doomed = {entry.order_id for entry in expiring}
        for line in self._lines.values():
            line.drop(doomed)
        self._waiting -= doomed
        return expiring

    def next_due(self, phases: Iterable[Phase]) -> datetime | None:
        """Return the earliest moment a waiting order of ``phases`` comes due."""
        earliest: datetime | None = None
        for phase in phases:
            dues = self._dues[phase]
            while dues and not self._is_waiting(dues[0]):
                heapq.heappop(dues)
            if dues and (earliest is None or dues[0][0] < earliest):
                earliest = dues[0][0]
        return earliest

    def waiting(self) -> list[QueuedOrder]:
        """Return the waiting orders, by arrival (for tests and the admin view)."""
        return sorted((self._entries[i] for i in self._waiting), key=lambda entry: entry.seq)

    def _wait(self, entry: QueuedOrder) -> None:
        self._waiting.add(entry.order_id)
        self._lines[entry.phase].add(entry)
        heapq.heappush(self._dues[entry.phase], (entry.due, entry.seq, entry.order_id))

    def _is_waiting(self, row: tuple[datetime, int, str]) -> bool:
        due, seq, order_id = row
        entry = self._entries.get(order_id)
        return (
            entry is not None and order_id in self._waiting and (entry.due, entry.seq) == (due, seq)
        )


_WINDOW = timedelta(seconds=1)


class ReleaseLimiter:
    """At most ``per_second`` releases in any one second of the clock (a sliding window)."""

    def __init__(self, per_second: int) -> None:
        self._rate = _checked(per_second)
        self._recent: deque[tuple[datetime, int]] = deque()
        self._count = 0

    @property
    def per_second(self) -> int:
        """Return the current maximum rate."""
        return self._rate

    @per_second.setter
    def per_second(self, value: int) -> None:
        self._rate = _checked(value)

    def allowance(self, now: datetime) -> int:
        """Return how many may be released at ``now``."""
        self._forget(now)
        return max(0, self._rate - self._count)

    def note(self, now: datetime, count: int) -> None:
        """Record ``count`` releases at ``now``."""
        if count > 0:
            self._recent.append((now, count))
            self._count += count

    def next_slot(self, now: datetime) -> datetime:
        """Return the first moment after ``now`` when the allowance may grow."""
        self._forget(now)
        return self._recent[0][0] + _WINDOW if self._recent else now

    def _forget(self, now: datetime) -> None:
        while self._recent and self._recent[0][0] + _WINDOW <= now:
            self._count -= self._recent.popleft()[1]


def _checked(per_second: int) -> int:
    if isinstance(per_second, bool) or not isinstance(per_second, int) or per_second <= 0:
        raise ValidationError(
            f"the release rate must be a positive whole number, got {per_second!r}",
            code="invalid_release_rate",
        )
    return per_second
