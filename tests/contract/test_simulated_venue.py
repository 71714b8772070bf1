"""The venue contract against the simulated exchange, plus its knobs: fees, liquidity, recording."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from agora.core.errors import ValidationError
from agora.execution.venues.protocol import Venue, VenueUnavailableError
from agora.execution.venues.replay_session import (
    ExpireDayRecord,
    QuoteRecord,
    SessionRecorder,
    SubmitRecord,
    load_session,
)
from agora.execution.venues.reports import FeeSchedule, Quote
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


def test_fees_are_charged_on_fills_only(listener: RecordingListener) -> None:
    fees = FeeSchedule(per_share_price_units=30, notional_bps=1, minimum_cents=50)
    venue = started(listener, fees=fees)
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 101))
        venue.submit(buy("o1", qty=100))
        venue.submit(buy("o2", qty=1))
        venue.cancel("o2")
        # 100 × $0.003 = 30¢, plus 1 bp of 100 × $100.01 = 100.01¢: 130.01¢ → 130¢
        assert [r.fee_cents for r in listener.wait_kind("o1", "fill")] == [0, 130]
        # 1 share: 0.3¢ + 1.0001¢ = 1.3001¢ → 1¢, raised to the 50¢ minimum
        reports = listener.wait_kind("o2", "cancel_rejected")
        assert [(r.kind, r.fee_cents) for r in reports] == [
            ("accepted", 0),
            ("fill", 50),
            ("cancel_rejected", 0),
        ]
    finally:
        venue.stop()


def test_fills_are_free_by_default(listener: RecordingListener) -> None:
    venue = started(listener)
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1", qty=100))
        assert [r.fee_cents for r in listener.wait_kind("o1", "fill")] == [0, 0]
    finally:
        venue.stop()


def test_a_minimum_fee_applies_to_each_small_fill(listener: RecordingListener) -> None:
    venue = started(listener, fees=FeeSchedule(per_share_price_units=30, minimum_cents=50))
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1", qty=1))
        assert [r.fee_cents for r in listener.wait_kind("o1", "fill")] == [0, 50]
    finally:
        venue.stop()


def fills(listener: RecordingListener, order_id: str) -> list[int]:
    """Return the quantities of ``order_id``'s fills so far."""
    return [r.qty for r in listener.of(order_id) if r.kind == "fill"]


def test_a_liquidity_fraction_splits_fills_across_quotes(listener: RecordingListener) -> None:
    venue = started(listener, liquidity_fraction=0.29)
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 100))  # 29 shares offered, exactly
        venue.submit(buy("o1", qty=50))
        venue.on_quote(quote("AAPL", BID, ASK, 3))  # 0.87 of a share: at least 1
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        listener.wait_for(lambda rs: sum(fills(listener, "o1")) == 50)
        assert fills(listener, "o1") == [29, 1, 20]
    finally:
        venue.stop()


def test_without_a_liquidity_fraction_fills_follow_the_quoted_size(
    listener: RecordingListener,
) -> None:
    venue = started(listener)
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1", qty=50))
        listener.wait_kind("o1", "fill")
        assert fills(listener, "o1") == [50]
    finally:
        venue.stop()


@pytest.mark.parametrize("fraction", [0.0, -0.5, 1.5])
def test_a_liquidity_fraction_outside_zero_to_one_is_refused(fraction: float) -> None:
    with pytest.raises(ValidationError):
        SimulatedVenue(liquidity_fraction=fraction)


def test_the_recorder_has_each_record_before_the_listener_sees_it(
    listener: RecordingListener, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    venue = started(listener, recorder=SessionRecorder(path), fees=FeeSchedule(notional_bps=10))
    try:
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1"))
        listener.wait_kind("o1", "fill")
        records = load_session(path).records  # read while the venue still runs
    finally:
        venue.stop()
    assert len(records) == 2
    quoted, submitted = records
    assert isinstance(quoted, QuoteRecord)
    assert (quoted.symbol, quoted.quote, quoted.reports) == (
        "AAPL",
        quote("AAPL", BID, ASK, 100),
        (),
    )
    assert isinstance(submitted, SubmitRecord)
    assert submitted.order == buy("o1")
    # Recorded as the book made them; the venue stamps each order's seq as it hands them on.
    heard = listener.of("o1")
    assert [r.seq for r in heard] == [1, 2]
    assert list(submitted.reports) == [msgspec.structs.replace(r, seq=0) for r in heard]
    assert submitted.reports[1].fee_cents == 100  # 10 bps of 10 × $100.01 = 100.01¢


def test_the_recorder_keeps_the_quote_as_received_not_as_scaled(
    listener: RecordingListener, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    venue = started(listener, recorder=SessionRecorder(path), liquidity_fraction=0.5)
    venue.on_quote(quote("AAPL", BID, ASK, 100))
    venue.expire_day()
    venue.order_state("o1")  # queries are not recorded; this waits for the two events
    venue.stop()
    quoted, expired = load_session(path).records
    assert isinstance(quoted, QuoteRecord)
    assert quoted.quote == quote("AAPL", BID, ASK, 100)
    assert isinstance(expired, ExpireDayRecord)


def test_a_venue_stopped_before_it_starts_closes_its_recorder_and_cannot_start(
    tmp_path: Path,
) -> None:
    recorder = SessionRecorder(tmp_path / "session.jsonl")
    venue = SimulatedVenue(recorder=recorder)
    venue.stop()
    assert load_session(recorder.path).records == ()
    with pytest.raises(ValueError, match="closed file"):
        recorder.write(ExpireDayRecord())
    with pytest.raises(RuntimeError):
        venue.start(RecordingListener())
