"""``run_query``: DuckDB over the audit files, partitions as columns, exact decimals."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from agora.audit import AuditError, AuditLayout, AuditWriter
from agora.audit.query import run_query, text
from tests.audit_support import MemoryOutbox, mixed_events


@pytest.fixture
async def layout(tmp_path: Path) -> AuditLayout:
    outbox = MemoryOutbox()
    outbox.add(*mixed_events(9))
    await AuditWriter(outbox, tmp_path).catch_up()
    return AuditLayout.in_data_dir(tmp_path)


def test_partitions_are_columns(layout: AuditLayout) -> None:
    result = run_query(
        layout, "SELECT dt, type, count(*) AS n FROM events GROUP BY ALL ORDER BY ALL"
    )
    assert result.columns == ["dt", "type", "n"]
    assert result.rows == [
        (date(2026, 1, 5), "order.filled", 1),
        (date(2026, 1, 6), "order.filled", 2),
        (date(2026, 1, 6), "order.submitted", 3),
        (date(2026, 1, 6), "order.updated", 3),
    ]


def test_money_is_decimal_and_the_payload_is_json(layout: AuditLayout) -> None:
    result = run_query(
        layout,
        "SELECT sum(qty) AS qty, sum(price * qty) AS notional, min(fee) AS fee,"
        " any_value(payload->>'$.fill.fill_id') AS fill_id"
        " FROM events WHERE type = 'order.filled' AND payload->>'$.fill.fill_id' = 'f4'",
    )
    ((qty, notional, fee, fill_id),) = result.rows
    assert (qty, notional, fee, fill_id) == (Decimal(3), Decimal("598.47"), Decimal("0.09"), "f4")
    assert isinstance(qty, Decimal)


def test_rows_as_json_keep_decimals_and_times_exact(layout: AuditLayout) -> None:
    result = run_query(layout, "SELECT seq, price, timestamp, dt FROM events WHERE seq = 1")
    assert result.records() == [
        {
            "seq": 1,
            "price": "199.4900",
            "timestamp": "2026-01-05T23:59:59.000000Z",
            "dt": "2026-01-05",
        }
    ]
    json.dumps(result.records())
    assert [text(value) for value in result.rows[0]] == [
        "1",
        "199.4900",
        "2026-01-05T23:59:59.000000Z",
        "2026-01-05",
    ]


def test_an_empty_log_is_an_empty_table(tmp_path: Path) -> None:
    result = run_query(AuditLayout.in_data_dir(tmp_path), "SELECT * FROM events")
    assert result.rows == []
    assert {"seq", "payload", "hash", "dt", "type"} <= set(result.columns)


def test_bad_sql_is_an_audit_error(layout: AuditLayout) -> None:
    with pytest.raises(AuditError, match="the query failed"):
        run_query(layout, "SELECT nope FROM events")
