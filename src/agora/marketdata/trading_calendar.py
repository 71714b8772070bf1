"""Trading calendars: when the market is open, and the clock the API reports.

A session is open from its open (inclusive) to its close (exclusive), in UTC. ``next_open`` and
``next_close`` are the first open and the first close strictly after the given moment: while
the market is open, ``next_open`` is the next session's. A session calendar knows only the
sessions it was built with; asking about a moment outside them raises CalendarRangeError
rather than guessing (exchange-calendars reaches about one year ahead).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple, Protocol

from agora.core.errors import AgoraError
from agora.core.events import JsonValue
from agora.marketdata.records import rfc3339


class CalendarRangeError(AgoraError):
    """Raise when a moment is beyond the sessions a calendar knows (refresh exchange-calendars)."""

    code = "calendar_out_of_range"


class TradingCalendar(Protocol):
    """When a market is open."""

    name: str

    def is_open(self, at: datetime) -> bool:
        """Tell whether the market is open at ``at``."""
        ...

    def next_open(self, at: datetime) -> datetime | None:
        """Return the first session open after ``at`` (None: the market never closes)."""
        ...

    def next_close(self, at: datetime) -> datetime | None:
        """Return the first session close after ``at`` (None: the market never closes)."""
        ...


class AlwaysOpenCalendar:
    """The paper market's default: always open, so there is no next open or close."""

    name = "always"

    def is_open(self, at: datetime) -> bool:
        """Return True."""
        return True

    def next_open(self, at: datetime) -> datetime | None:
        """Return None: the market never opens, since it never closes."""
        return None

    def next_close(self, at: datetime) -> datetime | None:
        """Return None: the market never closes."""
        return None


class Session(NamedTuple):
    """One trading day: its date on the exchange and its UTC open and close."""

    day: date
    open: datetime
    close: datetime


class SessionCalendar:
    """A calendar made of known sessions, sorted and not overlapping."""

    def __init__(self, name: str, sessions: Sequence[Session]) -> None:
        if not sessions:
            raise ValueError("a session calendar needs at least one session")
        self.name = name
        self._sessions = tuple(sessions)
        self._opens = [session.open for session in self._sessions]
        self._closes = [session.close for session in self._sessions]
        self._by_day = {session.day: session for session in self._sessions}
        if any(b.open < a.close for a, b in zip(self._sessions, self._sessions[1:], strict=False)):
            raise ValueError("sessions must be sorted and must not overlap")

    @property
    def first(self) -> Session:
        """Return the earliest known session."""
        return self._sessions[0]

    @property
    def last(self) -> Session:
        """Return the latest known session."""
        return self._sessions[-1]

    def is_open(self, at: datetime) -> bool:
        """Tell whether ``at`` falls in a session (open inclusive, close exclusive)."""
        self._check(at, self.last.close)
        index = bisect_right(self._opens, at) - 1
        return index >= 0 and at < self._closes[index]

    def next_open(self, at: datetime) -> datetime:
        """Return the first session open strictly after ``at``."""
        self._check(at, self.last.open)
        return self._opens[bisect_right(self._opens, at)]

    def next_close(self, at: datetime) -> datetime:
        """Return the first session close strictly after ``at``."""
        self._check(at, self.last.close)
        return self._closes[bisect_right(self._closes, at)]

    def session(self, day: date) -> Session | None:
        """Return the session on ``day`` (the exchange's date), or None when it is closed."""
        if not self.first.day <= day <= self.last.day:
            raise CalendarRangeError(self._beyond(day.isoformat()))
        return self._by_day.get(day)

    def _check(self, at: datetime, before: datetime) -> None:
        # ``at`` must be after the first open (earlier sessions are unknown) and before ``before``.
        if at.tzinfo is None:
            raise ValueError("calendar times must be timezone-aware")
        if not self.first.open <= at < before:
            raise CalendarRangeError(self._beyond(rfc3339(at)))

    def _beyond(self, what: str) -> str:
        return (
            f"{what} is beyond the {self.name} calendar, which knows sessions from"
            f" {self.first.day} to {self.last.day}; upgrade exchange-calendars to extend it"
        )


def clock_payload(calendar: TradingCalendar, now: datetime) -> dict[str, JsonValue]:
    """Return ``GET /api/v1/clock``: ``{timestamp, is_open, next_open, next_close}``."""
    next_open = calendar.next_open(now)
    next_close = calendar.next_close(now)
    return {
        "timestamp": rfc3339(now),
        "is_open": calendar.is_open(now),
        "next_open": None if next_open is None else rfc3339(next_open),
        "next_close": None if next_close is None else rfc3339(next_close),
    }
