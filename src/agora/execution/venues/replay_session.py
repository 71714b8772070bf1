"""Venue sessions: what a venue was asked, in order, and what it reported, as JSON Lines.

A session file starts with the header ``{"format": "agora.venue-session", "version": 1}``; each
further line is one command the venue thread worked, tagged by ``kind`` (``submit``, ``cancel``,
``replace``, ``quote``, ``expire_day``), with the reports that command produced. Blank lines are
skipped. ``SessionRecorder`` writes one (flushing each line, so stopping or crashing loses no
tail); ``load_session`` reads one and says which line is wrong. The format is described, with an
example, in ``docs/replay-venue.md``.

Every report in a record must be about an order the session has already introduced: by an
earlier submit, cancel or replace, or by the record's own command.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from agora.core.errors import ValidationError
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport

FORMAT = "agora.venue-session"
VERSION = 1


class SessionHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Name a session file's format and version (its first line)."""

    format: str
    version: int


class _Record(
    msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", forbid_unknown_fields=True
):
    """Tag session records by ``kind``; refuse fields a record does not have (typos)."""


class SubmitRecord(_Record, frozen=True, tag="submit"):
    """Record a submit: the full order and what the venue reported."""

    order: VenueOrder
    reports: tuple[VenueReport, ...] = ()


class CancelRecord(_Record, frozen=True, tag="cancel"):
    """Record a cancel request and its answer."""

    order_id: str
    reports: tuple[VenueReport, ...] = ()


class ReplaceRecord(_Record, frozen=True, tag="replace"):
    """Record a replace request: the old id, the new order and what the venue reported."""

    order_id: str
    new: VenueOrder
    reports: tuple[VenueReport, ...] = ()


class QuoteRecord(_Record, frozen=True, tag="quote"):
    """Record a quote (optional in hand-written sessions) and the fills it brought."""

    symbol: str
    quote: Quote | None = None
    reports: tuple[VenueReport, ...] = ()


class ExpireDayRecord(_Record, frozen=True, tag="expire_day"):
    """Record the end of a trading day and the orders it expired."""

    reports: tuple[VenueReport, ...] = ()


SessionRecord = SubmitRecord | CancelRecord | ReplaceRecord | QuoteRecord | ExpireDayRecord
RECORD_KINDS = ("submit", "cancel", "replace", "quote", "expire_day")


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """Hold a loaded session: its records in order and the file line of each."""

    records: tuple[SessionRecord, ...]
    lines: tuple[int, ...] = ()

    def line_of(self, index: int) -> int:
        """Return the file line of record ``index`` (its 1-based position if unknown)."""
        return self.lines[index] if index < len(self.lines) else index + 2


class SessionRecorder:
    """Write a venue session to a JSON Lines file: the header, then one line per record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: BinaryIO = self.path.open("wb")
        self._encoder = msgspec.json.Encoder()
        self._write(SessionHeader(format=FORMAT, version=VERSION))

    def write(self, record: SessionRecord) -> None:
        """Append ``record`` and flush it to the file."""
        self._write(record)

    def close(self) -> None:
        """Close the file; idempotent."""
        self._file.close()

    def _write(self, value: msgspec.Struct) -> None:
        self._file.write(self._encoder.encode(value) + b"\n")
        self._file.flush()


_HEADER = msgspec.json.Decoder(SessionHeader)
_RECORD: msgspec.json.Decoder[SessionRecord] = msgspec.json.Decoder(SessionRecord)
_ANY = msgspec.json.Decoder()


def load_session(path: str | Path) -> Session:
    """Read a session file; raise ``ValidationError`` naming the line of the first problem."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as error:
        raise ValidationError(f"{path}: cannot read: {error}", code="invalid_session") from None
    lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise _invalid(path, 1, "empty file, expected the session header")
    _check_header(path, *lines[0])
    records = tuple(_decode_record(path, number, line) for number, line in lines[1:])
    numbers = tuple(number for number, _ in lines[1:])
    _check_order_ids(path, zip(numbers, records, strict=True))
    return Session(records=records, lines=numbers)


def _check_header(path: Path, number: int, line: bytes) -> None:
    try:
        header = _HEADER.decode(line)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise _invalid(path, number, f"bad header ({error})") from None
    if header.format != FORMAT or header.version != VERSION:
        expected = f'{{"format": "{FORMAT}", "version": {VERSION}}}'
        raise _invalid(path, number, f"bad header, expected {expected}")


def _decode_record(path: Path, number: int, line: bytes) -> SessionRecord:
    try:
        return _RECORD.decode(line)
    except msgspec.ValidationError as error:
        kind = _kind_of(line)
        if kind is not None and kind not in RECORD_KINDS:
            known = ", ".join(RECORD_KINDS)
            raise _invalid(path, number, f"unknown record kind {kind!r} (one of {known})") from None
        raise _invalid(path, number, f"bad record ({error})") from None
    except msgspec.DecodeError as error:
        raise _invalid(path, number, f"not JSON ({error})") from None


def _kind_of(line: bytes) -> str | None:
    try:
        value: Any = _ANY.decode(line)
    except msgspec.DecodeError:  # not JSON at all: no kind to name
        return None
    kind = value.get("kind") if isinstance(value, dict) else None
    return kind if isinstance(kind, str) else None


def _check_order_ids(path: Path, numbered: Iterable[tuple[int, SessionRecord]]) -> None:
    known: set[str] = set()
    for number, record in numbered:
        known.update(introduced_ids(record))
        for report in record.reports:
            if report.order_id not in known:
                message = f"report about order {report.order_id!r}, which no command introduced"
                raise _invalid(path, number, message)


def introduced_ids(record: SessionRecord) -> Iterator[str]:
    """Yield the order ids a record's command names."""
    match record:
        case SubmitRecord(order=order):
            yield order.order_id
        case CancelRecord(order_id=order_id):
            yield order_id
        case ReplaceRecord(order_id=order_id, new=new):
            yield order_id
            yield new.order_id


def _invalid(path: Path, number: int, problem: str) -> ValidationError:
    return ValidationError(f"{path}, line {number}: {problem}", code="invalid_session")
