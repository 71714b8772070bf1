"""``agora audit query``: SQL over the audit log with DuckDB, as the table ``events``.

The files are read with hive partitioning, so ``dt`` (a DATE) and ``type`` are columns and a
filter on them skips whole folders. The session's time zone is UTC. An empty log is an empty
table with the same columns. Results come back through Arrow, values as Python objects:
decimals stay ``Decimal``, never floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from agora.audit.chain import utc_text
from agora.audit.layout import AuditError, AuditLayout
from agora.audit.parquet import schema

_HIVE = "hive_partitioning = true, hive_types = {'dt': 'DATE', 'type': 'VARCHAR'}"


@dataclass(frozen=True, slots=True)
class QueryResult:
    """Column names and rows of a query."""

    columns: list[str]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON-ready objects (decimals and times as strings)."""
        return [
            {name: jsonable(value) for name, value in zip(self.columns, row, strict=True)}
            for row in self.rows
        ]


def run_query(layout: AuditLayout, sql: str) -> QueryResult:
    """Run ``sql`` with the audit log as the table ``events``."""
    connection = duckdb.connect()
    try:
        connection.execute("SET TimeZone = 'UTC'")
        _create_view(connection, layout)
        relation = connection.sql(sql)
        if relation is None:  # a statement that returns nothing
            return QueryResult([], [])
        table = relation.to_arrow_table()
        rows = [tuple(row.values()) for row in table.to_pylist()]
        return QueryResult(list(table.column_names), rows)
    except duckdb.Error as exc:
        raise AuditError(f"the query failed: {exc}", code="invalid_query") from exc
    finally:
        connection.close()


def _create_view(connection: duckdb.DuckDBPyConnection, layout: AuditLayout) -> None:
    if layout.parquet_files():
        pattern = _literal(str(layout.events / "dt=*" / "type=*" / "*.parquet"))
        connection.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({pattern}, {_HIVE})")
        return
    connection.register("audit_empty", schema().empty_table())
    connection.execute("CREATE VIEW events AS SELECT *, CAST(NULL AS DATE) AS dt FROM audit_empty")


def _literal(text: str) -> str:
    """Quote ``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def jsonable(value: Any) -> Any:
    """A query value as JSON: decimals and times as strings, bytes as hex."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return utc_text(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def text(value: Any) -> str:
    """A query value as table text (empty for null)."""
    shown = jsonable(value)
    if shown is None:
        return ""
    return shown if isinstance(shown, str) else str(shown)
