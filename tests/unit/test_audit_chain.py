"""The audit chain's canonical form and hashes, and the typed columns."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from agora.audit.chain import GENESIS, canonical_event, canonical_json, link, utc_text
from agora.audit.records import TypedColumns, canonical_of, make_record, typed_columns
from agora.core.events import EventType
from tests.audit_support import order_event


def test_the_canonical_form_sorts_keys_without_whitespace_and_keeps_unicode() -> None:
    encoded = canonical_event(
        seq=7,
        event_id="evt_1",
        event_type="ledger.transfer",
        account_id="acc_a",
        correlation_id=None,
        timestamp=datetime(2026, 1, 5, 14, 30, tzinfo=UTC),
        version=1,
        payload={"kind": "deposit", "amount": "10.00", "note": "é\n"},
    )
    assert encoded == (
        b'{"account_id":"acc_a","correlation_id":null,"event_id":"evt_1",'
        b'"payload":{"amount":"10.00","kind":"deposit","note":"\xc3\xa9\\n"},"seq":7,'
        b'"timestamp":"2026-01-05T14:30:00.000000Z","type":"ledger.transfer","version":1}'
    )


def test_times_are_written_in_utc_with_microseconds() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert utc_text(datetime(2026, 1, 5, 9, 30, 0, 5, tzinfo=eastern)) == (
        "2026-01-05T14:30:00.000005Z"
    )
    assert utc_text(datetime(2026, 1, 5, 14, 30)) == "2026-01-05T14:30:00.000000Z"


def test_a_link_is_sha256_of_the_previous_hash_and_the_canonical_bytes() -> None:
    expected = hashlib.sha256(bytes(32) + b"{}").hexdigest()
    assert link(GENESIS, b"{}") == expected
    assert link(expected, b"{}") != expected


def test_a_record_chains_on_its_predecessor_and_covers_seq_and_payload() -> None:
    event = order_event(1)
    first = make_record(1, event, GENESIS)
    assert first.prev_hash == GENESIS
    assert first.hash == link(GENESIS, canonical_of(1, event))
    assert first.canonical() == canonical_of(1, event)
    assert make_record(2, event, GENESIS).hash != first.hash  # the seq is covered
    changed = order_event(1, status="filled")
    assert make_record(1, changed, GENESIS).hash != first.hash
    assert make_record(1, event, first.hash).hash != first.hash
    assert first.payload == canonical_json(event.payload)
    assert first.event() == event


def test_typed_columns_of_a_fill_come_from_the_fill() -> None:
    typed = typed_columns(EventType.ORDER_FILLED, order_event(1, EventType.ORDER_FILLED).payload)
    assert typed == TypedColumns(
        order_id=f"ord_{1:032x}",
        fill_id="f1",
        symbol="AAPL",
        side="buy",
        status="new",
        qty=Decimal("3"),
        price=Decimal("199.49"),
        fee=Decimal("0.09"),
    )


def test_typed_columns_of_an_order_and_a_transfer() -> None:
    typed = typed_columns(EventType.ORDER_SUBMITTED, order_event(1).payload)
    assert (typed.qty, typed.price, typed.fill_id) == (Decimal(10), Decimal("199.5"), None)
    transfer = typed_columns(EventType.TRANSFER_POSTED, {"kind": "deposit", "amount": "12.30"})
    assert transfer == TypedColumns(amount=Decimal("12.30"))
    assert typed_columns(EventType.ACCOUNT_OPENED, {"account_id": "acc_a"}) == TypedColumns()


def test_a_value_that_does_not_fit_its_column_is_left_to_the_payload() -> None:
    payload = order_event(1).payload | {"qty": "1e400", "limit_price": "1.00005"}
    typed = typed_columns(EventType.ORDER_SUBMITTED, payload)
    assert (typed.qty, typed.price) == (None, None)
    assert typed_columns(EventType.ORDER_SUBMITTED, payload | {"qty": "NaN"}).qty is None
    assert typed_columns(EventType.ORDER_SUBMITTED, payload | {"qty": "ten"}).qty is None
    assert typed_columns(EventType.ORDER_SUBMITTED, payload | {"qty": "10\n"}).qty is None
    assert typed_columns(EventType.ORDER_SUBMITTED, payload | {"qty": "1" * 30}).qty is None
    assert typed_columns(EventType.ORDER_SUBMITTED, payload | {"qty": "1" * 29}).qty is not None


def test_the_canonical_encoder_matches_the_reference_json_form() -> None:
    texts = [chr(c) for c in range(0x3000) if not 0xD800 <= c <= 0xDFFF]
    texts += ["\u2028\u2029", "\U0001f600", "\x7f", '"\\/']
    for text in texts:
        document = {"b": [text, None, True, 10**20], "a": {text: text}}
        reference = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert canonical_json(document) == reference
