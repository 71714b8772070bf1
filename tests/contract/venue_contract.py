"""The venue contract: what every venue adapter (simulated, replay, FIX) must do.

Each adapter's test module subclasses ``VenueContract``, provides the ``venue`` fixture (a started
venue reporting to the ``listener`` fixture, stopped at teardown) and ``provide_quote``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agora.execution.venues.protocol import (
    ANSWER_KINDS,
    EXECUTION_KINDS,
    FINAL_KINDS,
    Venue,
    VenueUnavailableError,
)
from agora.execution.venues.reports import VenueOrder, VenueReport

WAIT_SECONDS = 10.0
BID, ASK = 1_000_000, 1_000_100  # $100.00 / $100.01


class RecordingListener:
    """Record each report with the thread that delivered it; let tests wait for reports."""

    def __init__(self) -> None:
        self.reports: list[VenueReport] = []
        self.threads: list[int] = []
        self.after_stop: list[VenueReport] = []
        self.stopped = False
        self._changed = threading.Condition()

    def on_report(self, report: VenueReport) -> None:
        """Record ``report`` and the calling thread."""
        with self._changed:
            if self.stopped:
                self.after_stop.append(report)
            self.reports.append(report)
            self.threads.append(threading.get_ident())
            self._changed.notify_all()

    def wait_for(self, done: Callable[[list[VenueReport]], bool]) -> list[VenueReport]:
        """Wait until ``done(reports)`` holds; fail after a generous timeout."""
        with self._changed:
            if not self._changed.wait_for(lambda: done(self.reports), timeout=WAIT_SECONDS):
                pytest.fail(f"timed out waiting; reports so far: {self.reports}")
            return list(self.reports)

    def wait_kind(self, order_id: str, kind: str) -> list[VenueReport]:
        """Wait for a report of ``kind`` about ``order_id``; return that order's reports."""
        self.wait_for(lambda rs: any(r.order_id == order_id and r.kind == kind for r in rs))
        return self.of(order_id)

    def of(self, order_id: str) -> list[VenueReport]:
        """Return the reports about ``order_id`` so far, in arrival order."""
        with self._changed:
            return [r for r in self.reports if r.order_id == order_id]


def buy(order_id: str, qty: int = 10, limit_price: int = ASK, **fields: Any) -> VenueOrder:
    """Return a day limit buy on AAPL, marketable at the contract's ask unless told otherwise."""
    values: dict[str, Any] = {"symbol": "AAPL", "order_type": "limit", "time_in_force": "day"}
    values.update(fields)
    return VenueOrder(order_id=order_id, side="buy", qty=qty, limit_price=limit_price, **values)


def is_closed(reports: list[VenueReport], qty: int) -> bool:
    """Tell whether ``reports`` (one order's) include a final report."""
    filled = sum(r.qty for r in reports if r.kind == "fill")
    return filled >= qty or any(r.kind in FINAL_KINDS for r in reports)


def assert_well_ordered(reports: list[VenueReport], qty: int) -> None:
    """Check one order's reports: an answer first, fills within qty, nothing after the final."""
    execution = [r for r in reports if r.kind in EXECUTION_KINDS]
    assert execution, "no execution report"
    assert execution[0].kind in ANSWER_KINDS
    assert all(r.kind not in ANSWER_KINDS for r in execution[1:])
    filled = 0
    for index, report in enumerate(execution):
        filled += report.qty if report.kind == "fill" else 0
        assert filled <= qty
        if report.kind in FINAL_KINDS or filled == qty:
            assert index == len(execution) - 1, f"report after a final one: {execution}"


class VenueContract:
    """The behaviour every venue keeps; subclasses provide ``venue`` and ``provide_quote``."""

    @pytest.fixture
    def listener(self) -> RecordingListener:
        """Return a fresh recording listener."""
        return RecordingListener()

    @pytest.fixture
    def venue(self, listener: RecordingListener) -> Iterator[Venue]:
        """Yield a started venue reporting to ``listener``; stop it afterwards."""
        raise NotImplementedError

    def provide_quote(self, venue: Venue, symbol: str, bid: int, ask: int, size: int) -> None:
        """Make ``size`` shares available at ``bid`` / ``ask`` for ``symbol``."""
        raise NotImplementedError

    def test_marketable_submit_is_accepted_then_filled_on_the_venue_thread(
        self, venue: Venue, listener: RecordingListener
    ) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 100)
        venue.submit(buy("o1", qty=10))
        reports = listener.wait_kind("o1", "fill")
        assert [r.kind for r in reports] == ["accepted", "fill"]
        assert (reports[1].qty, reports[1].price) == (10, ASK)
        assert threading.get_ident() not in listener.threads

    def test_a_resting_order_cancels_once(self, venue: Venue, listener: RecordingListener) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 100)
        venue.submit(buy("o1", limit_price=BID - 100))
        listener.wait_kind("o1", "accepted")
        venue.cancel("o1")
        listener.wait_kind("o1", "canceled")
        venue.cancel("o1")
        reports = listener.wait_kind("o1", "cancel_rejected")
        assert [r.kind for r in reports] == ["accepted", "canceled", "cancel_rejected"]

    def test_replace_reports_replaced_then_accepted_for_the_new_id(
        self, venue: Venue, listener: RecordingListener
    ) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 100)
        venue.submit(buy("o1", limit_price=BID - 100))
        listener.wait_kind("o1", "accepted")
        venue.replace("o1", buy("o2", qty=20, limit_price=BID - 200))
        listener.wait_kind("o2", "accepted")
        kinds = [(r.kind, r.order_id) for r in listener.reports]
        assert kinds == [("accepted", "o1"), ("replaced", "o1"), ("accepted", "o2")]

    def test_reports_per_order_are_ordered_and_stop_at_the_final_one(
        self, venue: Venue, listener: RecordingListener
    ) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 25)
        ids = [f"o{n}" for n in range(12)]
        for index, order_id in enumerate(ids):
            venue.submit(buy(order_id, qty=10, limit_price=ASK if index < 6 else BID))
        for _ in range(3):
            self.provide_quote(venue, "AAPL", BID - 100, BID, 15)
        for order_id in ids:
            listener.wait_kind(order_id, "accepted")
            venue.cancel(order_id)
        listener.wait_for(
            lambda rs: all(is_closed([r for r in rs if r.order_id == o], 10) for o in ids)
        )
        venue.cancel(ids[-1])
        listener.wait_kind(ids[-1], "cancel_rejected")
        for order_id in ids:
            assert_well_ordered(listener.of(order_id), 10)
        assert any(r.kind == "fill" and r.qty < 10 for r in listener.reports), "no partial fill"

    def test_order_state_reports_what_the_venue_did(
        self, venue: Venue, listener: RecordingListener
    ) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 100)
        venue.submit(buy("filled"))
        venue.submit(buy("resting", limit_price=BID - 100))
        listener.wait_kind("filled", "fill")
        listener.wait_kind("resting", "accepted")
        filled, resting = venue.order_state("filled"), venue.order_state("resting")
        assert (filled.order_id, filled.known, filled.open) == ("filled", True, False)
        assert list(filled.reports) == listener.of("filled")
        assert (resting.known, resting.open) == (True, True)
        assert [r.kind for r in resting.reports] == ["accepted"]

    def test_order_state_of_an_unknown_id_is_not_known(self, venue: Venue) -> None:
        state = venue.order_state("never-sent")
        assert (state.order_id, state.known, state.open, state.reports) == (
            "never-sent",
            False,
            False,
            (),
        )

    def test_stop_returns_and_no_callback_follows(
        self, venue: Venue, listener: RecordingListener
    ) -> None:
        self.provide_quote(venue, "AAPL", BID, ASK, 100)
        venue.submit(buy("o1", limit_price=BID - 100))
        listener.wait_kind("o1", "accepted")
        venue.stop()
        listener.stopped = True
        self.provide_quote(venue, "AAPL", BID - 200, BID - 100, 100)
        with pytest.raises(VenueUnavailableError) as raised:
            venue.submit(buy("o2"))
        assert raised.value.code == "broker_unavailable"
        time.sleep(0.05)  # a late callback would show up here; passing never depends on it
        assert listener.after_stop == []
