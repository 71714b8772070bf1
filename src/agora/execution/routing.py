"""What the market session decided for one chunk of engine commands, and its view meanwhile.

``Routing`` collects the commands handled without the venue and the queue entries to write in the
engine's checkpoint transaction; ``HeldView`` is the queue as the chunk changes it, before that
transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from agora.bus.ports import ProjectionTx
from agora.execution.release_queue import Phase, QueuedOrder, ReleaseQueue, encode_entry

QUEUE = "execution.queue"  # order id → QueuedOrder


@dataclass(slots=True)
class Routing:
    """What ``route`` decided for one chunk: events handled here and queue changes to write."""

    local: set[int] = field(default_factory=set)  # outbox seqs the engine must not send
    puts: list[QueuedOrder] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    requeues: list[str] = field(default_factory=list)

    def forget(self, order_id: str) -> None:
        """Delete an entry (one held earlier in the same chunk is simply not written)."""
        self.puts = [entry for entry in self.puts if entry.order_id != order_id]
        self.deletes.append(order_id)

    def write(self, tx: ProjectionTx) -> None:
        """Write the queue changes in the engine's checkpoint transaction."""
        for entry in self.puts:
            tx.put(QUEUE, entry.order_id, encode_entry(entry))
        for order_id in self.deletes:
            tx.delete(QUEUE, order_id)


class HeldView:
    """The queue as ``route`` sees it while it walks one chunk (its changes not yet committed)."""

    def __init__(self, queue: ReleaseQueue, now: datetime) -> None:
        self._queue = queue
        self._added: set[str] = set()
        self._dropped: set[str] = set()
        self.backlog = queue.backlog(now)

    def __contains__(self, order_id: str) -> bool:
        """Tell whether ``order_id`` is held, counting this chunk's changes."""
        return order_id in self._added or (
            order_id in self._queue and order_id not in self._dropped
        )

    def add(self, entry: QueuedOrder, now: datetime) -> None:
        """Hold an order (a waiting one due by ``now`` makes a backlog)."""
        self._added.add(entry.order_id)
        self._dropped.discard(entry.order_id)
        self.backlog = self.backlog or (entry.phase is not Phase.CLOSING and entry.due <= now)

    def drop(self, order_id: str) -> bool:
        """Forget an order; tell whether it was held."""
        was = order_id in self
        self._added.discard(order_id)
        self._dropped.add(order_id)
        return was
