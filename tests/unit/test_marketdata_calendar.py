"""Trading calendars: always open, and NYSE sessions, holidays and early closes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agora.marketdata.trading_calendar import (
    AlwaysOpenCalendar,
    CalendarRangeError,
    Session,
    SessionCalendar,
    clock_payload,
)
from agora.marketdata.xnys import make_calendar, xnys_calendar


def utc(*parts: int) -> datetime:
    """Return a UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def xnys() -> SessionCalendar:
    """NYSE sessions for 2025 and 2026."""
    return xnys_calendar(date(2025, 1, 1), date(2026, 12, 31))


def test_christmas_is_closed(xnys: SessionCalendar) -> None:
    assert xnys.session(date(2025, 12, 25)) is None
    assert not xnys.is_open(utc(2025, 12, 25, 16))
    assert xnys.next_open(utc(2025, 12, 25, 16)) == utc(2025, 12, 26, 14, 30)


def test_the_day_after_thanksgiving_closes_early_at_1pm_new_york(xnys: SessionCalendar) -> None:
    assert xnys.session(date(2025, 11, 28)) == Session(
        date(2025, 11, 28), utc(2025, 11, 28, 14, 30), utc(2025, 11, 28, 18)
    )
    assert xnys.is_open(utc(2025, 11, 28, 17, 59, 59))
    assert not xnys.is_open(utc(2025, 11, 28, 18))
    assert xnys.next_close(utc(2025, 11, 28, 15)) == utc(2025, 11, 28, 18)


def test_a_winter_day_opens_at_14_30_utc_and_a_summer_day_at_13_30(
    xnys: SessionCalendar,
) -> None:
    assert xnys.next_open(utc(2025, 12, 1, 0)) == utc(2025, 12, 1, 14, 30)
    assert xnys.next_open(utc(2025, 7, 1, 0)) == utc(2025, 7, 1, 13, 30)
    assert not xnys.is_open(utc(2025, 7, 1, 13, 29, 59))
    assert xnys.is_open(utc(2025, 7, 1, 13, 30))
    assert xnys.next_close(utc(2025, 7, 1, 13, 30)) == utc(2025, 7, 1, 20)


def test_while_open_the_next_open_is_the_next_session(xnys: SessionCalendar) -> None:
    friday_noon = utc(2025, 12, 5, 17)
    assert xnys.is_open(friday_noon)
    assert xnys.next_open(friday_noon) == utc(2025, 12, 8, 14, 30)  # Monday
    assert xnys.next_close(friday_noon) == utc(2025, 12, 5, 21)


def test_the_clock_payload_has_the_api_shape(xnys: SessionCalendar) -> None:
    assert clock_payload(xnys, utc(2025, 12, 24, 20)) == {
        "timestamp": "2025-12-24T20:00:00Z",
        "is_open": False,  # Christmas Eve closed early, at 18:00 UTC
        "next_open": "2025-12-26T14:30:00Z",
        "next_close": "2025-12-26T21:00:00Z",
    }


def test_beyond_the_calendar_is_a_clear_error(xnys: SessionCalendar) -> None:
    with pytest.raises(CalendarRangeError) as caught:
        xnys.is_open(utc(2027, 1, 4, 15))
    assert caught.value.code == "calendar_out_of_range"
    assert caught.value.message == (
        "2027-01-04T15:00:00Z is beyond the XNYS calendar, which knows sessions from"
        " 2025-01-02 to 2026-12-31; upgrade exchange-calendars to extend it"
    )
    with pytest.raises(CalendarRangeError):
        xnys.next_open(utc(2026, 12, 31, 15))  # after the last known open
    with pytest.raises(CalendarRangeError):
        xnys.is_open(utc(2024, 12, 31, 15))  # before the first known session
    with pytest.raises(CalendarRangeError):
        xnys.session(date(2027, 1, 4))


def test_the_always_calendar_is_open_with_no_next_open_or_close() -> None:
    assert clock_payload(AlwaysOpenCalendar(), utc(2025, 12, 25, 3)) == {
        "timestamp": "2025-12-25T03:00:00Z",
        "is_open": True,
        "next_open": None,
        "next_close": None,
    }


def test_calendars_are_chosen_by_name() -> None:
    assert make_calendar("always").name == "always"
    assert make_calendar("XNYS").name == "XNYS"
    with pytest.raises(ValueError, match="unknown calendar 'LSE'"):
        make_calendar("LSE")


def test_the_default_xnys_range_reaches_about_a_year_ahead() -> None:
    calendar = xnys_calendar()
    days_ahead = (calendar.last.day - date.today()).days
    assert 300 <= days_ahead <= 366


def test_sessions_must_be_sorted_and_naive_times_are_refused() -> None:
    first = Session(date(2025, 1, 2), utc(2025, 1, 2, 14, 30), utc(2025, 1, 2, 21))
    second = Session(date(2025, 1, 3), utc(2025, 1, 3, 14, 30), utc(2025, 1, 3, 21))
    with pytest.raises(ValueError, match="sorted"):
        SessionCalendar("X", [second, first])
    with pytest.raises(ValueError, match="timezone-aware"):
        SessionCalendar("X", [first, second]).is_open(datetime(2025, 1, 2, 15))
