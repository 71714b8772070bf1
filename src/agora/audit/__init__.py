"""The audit log: every outbox event in Parquet, hash-chained, queryable, replayable (ADR 13).

``AuditWriter`` follows the outbox and appends to ``DIR/audit/events/dt=…/type=…/*.parquet``;
``verify_audit`` checks the chain and completeness; ``run_query`` runs DuckDB over the files;
``replay`` rebuilds orders, balances and positions from the log alone.
"""

from agora.audit.layout import AuditError, AuditLayout, ChainHead
from agora.audit.writer import AuditSettings, AuditWriter, OutboxReader

__all__ = [
    "AuditError",
    "AuditLayout",
    "AuditSettings",
    "AuditWriter",
    "ChainHead",
    "OutboxReader",
]
