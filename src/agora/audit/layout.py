"""Where the audit log lives and how its files are made durable.

``DIR/audit/events/dt=YYYY-MM-DD/type=<event type>/<first event id>.parquet`` holds the records;
``DIR/audit/position.json`` the writer's position (the last outbox seq and hash it flushed);
``DIR/audit/writer.lock`` keeps a second writer out. A file is written under a hidden temporary
name (``.<name>.tmp``, which no ``*.parquet`` glob matches), fsynced, renamed into place and its
directory fsynced, so a reader never sees it half-written and a crash never leaves it torn.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO

from agora.audit.chain import GENESIS
from agora.core.errors import AgoraError

TEMP_SUFFIX = ".tmp"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,120}$")
_POSITION_FORMAT = 1


class AuditError(AgoraError):
    """Raise when the audit log cannot be written or read as it should."""

    code = "audit_error"


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The writer's position: the last outbox seq in the log and its hash."""

    seq: int = 0
    hash: str = GENESIS
    event_id: str | None = None


class AuditLayout:
    """The paths of one audit log."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.events = root / "events"
        self.position_path = root / "position.json"
        self.lock_path = root / "writer.lock"

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> AuditLayout:
        """The audit log of an embedded platform's data folder."""
        return cls(data_dir / "audit")

    def partition(self, day: date, event_type: str) -> Path:
        """The folder of one day's events of one type."""
        return self.events / f"dt={day.isoformat()}" / f"type={safe_name(event_type)}"

    def parquet_files(self) -> list[Path]:
        """Every finished file, in path order."""
        if not self.events.is_dir():
            return []
        return sorted(self.events.glob("dt=*/type=*/*.parquet"))

    def temp_files(self) -> list[Path]:
        """Files a crash left half-written (never visible as ``*.parquet``)."""
        if not self.events.is_dir():
            return []
        return sorted(self.events.glob(f"dt=*/type=*/.*{TEMP_SUFFIX}"))


def safe_name(text: str) -> str:
    """``text`` when it is safe as a path component, else its SHA-256 (ids and types are)."""
    if _SAFE_NAME.match(text) and text not in (".", ".."):
        return text
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a rename, a new file) durable."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_dirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each durably linked into its parent."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        folder.mkdir(exist_ok=True)
        fsync_dir(folder.parent)


def write_atomically(path: Path, write: Callable[[IO[bytes]], None], *, replace: bool) -> None:
    """Write a file under a temporary name, fsync it, rename it into place, fsync the folder."""
    temporary = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    with temporary.open("wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    if not replace and path.exists():
        temporary.unlink()
        raise AuditError(f"refusing to overwrite {path}")
    os.replace(temporary, path)
    fsync_dir(path.parent)


def read_position(layout: AuditLayout) -> ChainHead | None:
    """Read the writer's recorded position, or None when there is none yet."""
    try:
        text = layout.position_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        document = json.loads(text)
        head = ChainHead(
            seq=int(document["seq"]), hash=str(document["hash"]), event_id=document["event_id"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"{layout.position_path} is not a position record: {exc}") from exc
    if document.get("format") != _POSITION_FORMAT or len(head.hash) != len(GENESIS):
        raise AuditError(f"{layout.position_path} has an unknown format")
    return head


def write_position(layout: AuditLayout, head: ChainHead) -> None:
    """Record the writer's position durably (after the files it covers are in place)."""
    document = {
        "format": _POSITION_FORMAT,
        "seq": head.seq,
        "hash": head.hash,
        "event_id": head.event_id,
    }
    data = json.dumps(document, indent=1).encode("utf-8")

    def write(file: IO[bytes]) -> None:
        file.write(data)

    write_atomically(layout.position_path, write, replace=True)
