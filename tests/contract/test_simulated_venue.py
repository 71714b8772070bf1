"""The venue contract against the simulated exchange, plus its own knobs."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from agora.execution.venues.protocol import Venue, VenueUnavailableError
from agora.execution.venues.reports import Quote
from agora.execution.venues.simulated.venue import SimulatedVenue

from .venue_contract import ASK, BID, RecordingListener, VenueContract, buy

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)


def quote(symbol: str, bid: int, ask: int, size: int) -> Quote:
    """Return a quote with ``size`` on both sides, last at the bid."""
    return Quote(
        symbol=symbol, bid=bid, ask=ask, bid_size=size, ask_size=size, last=bid, timestamp=NOW
    )


class TestSimulatedVenue(VenueContract):
    """SimulatedVenue keeps the venue contract."""

    @pytest.fixture
    def venue(self, listener: RecordingListener) -> Iterator[Venue]:
        """Yield a started simulated venue."""
        venue = SimulatedVenue(clock=lambda: NOW)
        venue.start(listener)
        yield venue
        venue.stop()

    def provide_quote(self, venue: Venue, symbol: str, bid: int, ask: int, size: int) -> None:
        """Push a quote as market data would."""
        assert isinstance(venue, SimulatedVenue)
        venue.on_quote(quote(symbol, bid, ask, size))


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


def started(listener: RecordingListener, **options: object) -> SimulatedVenue:
    venue = SimulatedVenue(clock=lambda: NOW, **options)  # type: ignore[arg-type]
    venue.start(listener)
    return venue


def test_an_outage_makes_requests_raise_until_recovery(listener: RecordingListener) -> None:
    venue = started(listener)
    try:
        venue.fail()
        for request in (
            lambda: venue.submit(buy("o1")),
            lambda: venue.cancel("o1"),
            lambda: venue.replace("o1", buy("o2")),
            lambda: venue.order_state("o1"),
        ):
            with pytest.raises(VenueUnavailableError):
                request()
        venue.recover()
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1"))
        assert [r.kind for r in listener.wait_kind("o1", "fill")] == ["accepted", "fill"]
    finally:
        venue.stop()


def test_the_reject_rate_rejects_before_the_book(listener: RecordingListener) -> None:
    venue = started(listener, reject_rate=1.0, seed=7)
    try:
        venue.submit(buy("o1"))
        (report,) = listener.wait_kind("o1", "rejected")
        assert report.reason == "random_reject"
        assert venue.order_state("o1").known
    finally:
        venue.stop()


def test_a_seeded_reject_rate_is_reproducible() -> None:
    outcomes = []
    for _ in range(2):
        listener = RecordingListener()
        venue = started(listener, reject_rate=0.5, seed=42)
        try:
            for n in range(40):
                venue.submit(buy(f"o{n}", limit_price=BID))
            listener.wait_for(lambda rs: len(rs) == 40)
            outcomes.append([r.kind for r in listener.reports])
        finally:
            venue.stop()
    assert outcomes[0] == outcomes[1]
    assert {"accepted", "rejected"} == set(outcomes[0])


def test_a_resubmitted_id_makes_no_second_order(listener: RecordingListener) -> None:
    venue = started(listener)
    try:
        venue.submit(buy("o1", limit_price=BID))
        venue.submit(buy("o1", limit_price=BID))
        state = venue.order_state("o1")
        assert [r.kind for r in state.reports] == ["accepted"]
        assert [r.kind for r in listener.reports] == ["accepted"]
    finally:
        venue.stop()


def test_expire_day_expires_resting_day_orders(listener: RecordingListener) -> None:
    venue = started(listener)
    try:
        venue.submit(buy("day", limit_price=BID))
        venue.submit(buy("gtc", limit_price=BID, time_in_force="gtc"))
        venue.expire_day()
        listener.wait_kind("day", "expired")
        assert venue.order_state("day").open is False
        assert venue.order_state("gtc").open is True
    finally:
        venue.stop()


def test_closed_orders_beyond_the_history_limit_are_forgotten(
    listener: RecordingListener,
) -> None:
    venue = started(listener, history_limit=3)
    try:
        venue.submit(buy("resting", limit_price=BID))
        for n in range(5):
            venue.submit(buy(f"o{n}", limit_price=BID))
            venue.cancel(f"o{n}")
        known = {oid: venue.order_state(oid).known for oid in ["resting", "o0", "o1", "o2", "o4"]}
        assert known == {"resting": True, "o0": False, "o1": False, "o2": True, "o4": True}
    finally:
        venue.stop()


def test_stop_fails_queries_it_leaves_unanswered_and_is_idempotent(
    listener: RecordingListener,
) -> None:
    venue = started(listener, latency_seconds=30.0)
    venue.submit(buy("o1"))  # the venue thread now sleeps on its latency
    with ThreadPoolExecutor(max_workers=1) as pool:
        query = pool.submit(venue.order_state, "o1")  # waits behind the submit, or finds it stopped
        venue.stop()
        venue.stop()
        with pytest.raises(VenueUnavailableError):
            query.result(timeout=10)
    with pytest.raises(VenueUnavailableError):
        venue.order_state("o1")
    assert listener.reports == []
