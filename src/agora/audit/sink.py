"""The file side of the audit writer: recover the position, append flushes, exactly once.

A flush writes one file per (day, type) among its events, each atomically, then records the new
position (last seq and hash) in ``position.json``. A crash between the files and the position
leaves files *ahead* of the recorded position. On open, the sink reads every file's footer and
loads the ``(seq, hash)`` of the records past the position; when those events come again from
the outbox, their hashes are recomputed along the chain, checked against the files and not
written again. Files are never rewritten or deleted, only added: upstream is at least once,
the files hold each event exactly once.

Synchronous and blocking (file I/O, fsync): the async writer runs it on a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from agora.audit.layout import (
    AuditError,
    AuditLayout,
    ChainHead,
    make_dirs,
    read_position,
    safe_name,
    write_position,
)
from agora.audit.parquet import file_range, read_chain, write_file
from agora.audit.records import AuditRecord, make_record
from agora.core.events import Event

log = logging.getLogger(__name__)


class AuditSink:
    """Appends chained records to the Parquet files of one audit log (one writer at a time)."""

    def __init__(self, layout: AuditLayout) -> None:
        self.layout = layout
        self.head = ChainHead()
        self._ahead: dict[int, str] = {}
        self._lock: int | None = None

    def open(self) -> ChainHead:
        """Take the writer lock and recover the position; return it."""
        self.lock()
        self.recover()
        return self.head

    def lock(self) -> None:
        """Take the writer lock (raise AuditError when another writer holds it)."""
        make_dirs(self.layout.events)
        if self._lock is None:
            self._lock = _lock(self.layout)

    def recover(self) -> None:
        """Reload the position and the records written past it from the files."""
        for temporary in self.layout.temp_files():
            temporary.unlink(missing_ok=True)  # never renamed, so never part of the log
        self.head = read_position(self.layout) or ChainHead()
        self._ahead = {}
        for path in self.layout.parquet_files():
            if file_range(path).last_seq > self.head.seq:
                for seq, hash_ in read_chain(path):
                    if seq > self.head.seq:
                        self._ahead[seq] = hash_
        if self._ahead:
            log.info("audit: %d records past the position %d", len(self._ahead), self.head.seq)

    def close(self) -> None:
        """Release the writer lock."""
        if self._lock is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock)
            self._lock = None

    def append(self, events: Sequence[tuple[int, Event]]) -> ChainHead:
        """Write the events after the position (in outbox order) and move the position."""
        if self._lock is None:
            raise AuditError("the audit sink is not open")
        records, head = self._chain(events)
        groups: dict[tuple[date, str], list[AuditRecord]] = defaultdict(list)
        for record in records:
            groups[(record.day, record.type)].append(record)
        for (day, event_type), group in groups.items():
            folder = self.layout.partition(day, event_type)
            make_dirs(folder)
            write_file(folder / f"{safe_name(group[0].event_id)}.parquet", group)
        if head != self.head:
            write_position(self.layout, head)
            self._ahead = {seq: h for seq, h in self._ahead.items() if seq > head.seq}
            self.head = head
        return head

    def _chain(self, events: Sequence[tuple[int, Event]]) -> tuple[list[AuditRecord], ChainHead]:
        """Chain the events on from the head; leave out those already in the files."""
        head, records = self.head, []
        for seq, event in events:
            if seq <= head.seq:
                continue  # before the position: delivered again, already written
            record = make_record(seq, event, head.hash)
            written = self._ahead.get(seq)
            if written is None:
                records.append(record)
            elif written != record.hash:
                raise AuditError(
                    f"the audit file record of seq {seq} disagrees with the outbox "
                    f"(hash {written[:12]}…, expected {record.hash[:12]}…): run agora audit verify"
                )
            head = ChainHead(seq, record.hash, event.event_id)
        return records, head


def _lock(layout: AuditLayout) -> int:
    descriptor = os.open(layout.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise AuditError(f"another audit writer is running on {layout.root}") from None
    return descriptor
