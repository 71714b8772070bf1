"""A child process that commits lane batches on its own SQLite connection.

Binding thousands of parameters per batch is Python work that holds the GIL: done on a thread it
competes with the event loop for one interpreter. The writer process has an interpreter of its
own. A feeder thread encodes a batch's rows with msgspec and sends the bytes over a pipe; the
blocking pipe I/O releases the GIL while the child binds, commits and fsyncs, then answers.

The child is a plain ``python -m agora.storage.writer_main`` (not multiprocessing, which would
re-import the caller's ``__main__``), in its own session and ignoring SIGINT: a Ctrl-C in the
terminal must not abort a commit; the parent drains and closes the pipe instead. It exits when
the pipe closes, including when the parent is killed. A writer that died is started again on the
next commit; the batch it was writing is reported as failed and, being one transaction, left no
trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import msgspec

from agora.core.errors import StorageError
from agora.storage.sqlite_batch import STEPS, BatchRows, encoded_rows

_OK = b"ok"
_READY = b"ready"
_STARTUP_SECONDS = 60.0


class WriterProcess:
    """The parent's handle on the writer: start, commit a batch, stop."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._process: subprocess.Popen[bytes] | None = None
        self._send: Connection | None = None
        self._receive: Connection | None = None
        self._feeder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agora-writer-feed")

    async def commit(self, rows: BatchRows) -> None:
        """Commit ``rows`` in one transaction in the writer; raise StorageError on failure."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._feeder, self._commit, rows)

    async def close(self) -> None:
        """Stop the writer after the batch it is writing, and the feeder thread."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._feeder, self._stop)
        self._feeder.shutdown(wait=True)

    def _commit(self, rows: BatchRows) -> None:
        payload = msgspec.msgpack.encode(encoded_rows(rows))
        send, receive = self._running()
        try:
            send.send_bytes(payload)
            reply = receive.recv_bytes()
        except (EOFError, OSError) as exc:
            self._discard()
            raise StorageError(
                f"committing a lane batch failed: the writer stopped ({exc})"
            ) from exc
        if reply != _OK:
            raise StorageError(reply.decode(errors="replace"))

    def _running(self) -> tuple[Connection, Connection]:
        if self._send and self._receive and self._process and self._process.poll() is None:
            return self._send, self._receive
        self._discard()
        to_child, from_parent = os.pipe()
        to_parent, from_child = os.pipe()
        command = [sys.executable, "-m", "agora.storage.writer_main", str(self._path)]
        self._process = subprocess.Popen(
            [*command, str(self._busy_timeout_ms), str(to_child), str(from_child)],
            pass_fds=(to_child, from_child),
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_child)
        os.close(from_child)
        self._send = Connection(from_parent, readable=False)
        self._receive = Connection(to_parent, writable=False)
        if not self._receive.poll(_STARTUP_SECONDS) or self._receive.recv_bytes() != _READY:
            self._discard()
            raise StorageError("the SQLite writer process did not start")
        return self._send, self._receive

    def _discard(self) -> None:
        for connection in (self._send, self._receive):
            if connection is not None:
                connection.close()
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = self._send = self._receive = None

    def _stop(self) -> None:
        if self._send is not None:
            with contextlib.suppress(OSError):
                self._send.send_bytes(b"")  # the child finishes, closes its connection, exits
        self._discard()


def serve(receive: Connection, send: Connection, path: str, busy_timeout_ms: int) -> None:
    """Run in the child: commit each batch that arrives until the pipe closes."""
    from agora.storage.sqlite_conn import connect  # imported in the child only

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn = connect(Path(path), busy_timeout_ms)
    except Exception as exc:
        send.send_bytes(f"opening {path} failed: {exc}".encode())
        return
    send.send_bytes(_READY)
    decoder = msgspec.msgpack.Decoder(list[list[list[Any]]])
    try:
        while True:
            try:
                payload = receive.recv_bytes()
            except (EOFError, OSError):
                return
            if not payload:
                return
            send.send_bytes(_write(conn, decoder.decode(payload)))
    finally:
        conn.close()


def _write(conn: sqlite3.Connection, tables: list[list[list[Any]]]) -> bytes:
    """Write every table's rows in one transaction; answer ok or what failed."""
    label = "begin"
    try:
        conn.execute("BEGIN IMMEDIATE")
        for step, rows in zip(STEPS, tables, strict=True):
            label = step[0]
            if rows:
                conn.executemany(step[1], rows)
        label = "commit"
        conn.execute("COMMIT")
    except (sqlite3.Error, OverflowError, ValueError) as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        return f"committing a lane batch failed writing {label}: {exc}".encode()
    return _OK
