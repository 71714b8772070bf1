"""The NYSE calendar (XNYS) from exchange-calendars: sessions, holidays and early closes."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime

import exchange_calendars  # type: ignore[import-untyped]  # reason: no type hints shipped

from agora.marketdata.trading_calendar import (
    AlwaysOpenCalendar,
    CalendarRangeError,
    Session,
    SessionCalendar,
    TradingCalendar,
)

CALENDAR_NAMES = ("always", "XNYS")


def xnys_calendar(start: date | None = None, end: date | None = None) -> SessionCalendar:
    """Return NYSE sessions from ``start`` to ``end`` (default: the package's own range).

    The default range is exchange-calendars' own: twenty years back to about one year ahead.
    """
    # exchange-calendars trips pandas deprecation warnings inside itself; they are not ours.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        sessions = _load_sessions(start, end)
    return SessionCalendar("XNYS", sessions)


def _load_sessions(start: date | None, end: date | None) -> list[Session]:
    try:
        exchange = exchange_calendars.get_calendar(
            "XNYS",
            start=None if start is None else start.isoformat(),
            end=None if end is None else end.isoformat(),
        )
    except (ValueError, exchange_calendars.errors.CalendarError) as exc:
        raise CalendarRangeError(
            f"XNYS sessions from {start} to {end} are unavailable: {exc}"
        ) from exc
    schedule = exchange.schedule
    if schedule["break_start"].notna().any():
        raise ValueError("XNYS sessions with a lunch break are not supported")
    return [
        Session(day, _utc(opened), _utc(closed))
        for day, opened, closed in zip(
            schedule.index.date,
            schedule["open"].dt.to_pydatetime(),
            schedule["close"].dt.to_pydatetime(),
            strict=True,
        )
    ]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def make_calendar(name: str) -> TradingCalendar:
    """Return the calendar named ``name``: ``always`` or ``XNYS``."""
    if name == "always":
        return AlwaysOpenCalendar()
    if name.upper() == "XNYS":
        return xnys_calendar()
    raise ValueError(f"unknown calendar {name!r}; use one of {', '.join(CALENDAR_NAMES)}")
