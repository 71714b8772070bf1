"""Storage adapters: the ports' memory and SQLite implementations, and the migration runner."""

from agora.storage.memory import MemoryStore
from agora.storage.ports import Effect, LedgerRecords, LedgerRecordsSource, ProjectionTx
from agora.storage.sqlite import SqliteStore

__all__ = [
    "Effect",
    "LedgerRecords",
    "LedgerRecordsSource",
    "MemoryStore",
    "ProjectionTx",
    "SqliteStore",
]
