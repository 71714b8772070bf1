"""The venue contract against the replay venue, each test replaying its own simulated run.

For every contract test the ``venue`` fixture first runs that test's body against a recording
``SimulatedVenue``, then yields a ``ReplayVenue`` playing that recording, and afterwards checks
the replay delivered exactly what the simulated venue did and used up the session.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from agora.core.errors import ValidationError
from agora.execution.venues.history import ThreadedVenue
from agora.execution.venues.protocol import Venue, VenueUnavailableError
from agora.execution.venues.replay import ReplayVenue
from agora.execution.venues.replay_session import SessionRecorder, load_session
from agora.execution.venues.reports import FeeSchedule, Quote, VenueReport
from agora.execution.venues.simulated.venue import SimulatedVenue

from .venue_contract import ASK, BID, RecordingListener, VenueContract, buy

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
SAMPLE = Path(__file__).parents[2] / "examples" / "sessions" / "sample.jsonl"


def quote(symbol: str, bid: int, ask: int, size: int) -> Quote:
    """Return a quote with ``size`` on both sides, last at the bid."""
    return Quote(
        symbol=symbol, bid=bid, ask=ask, bid_size=size, ask_size=size, last=bid, timestamp=NOW
    )


def ticking_clock() -> Callable[[], datetime]:
    """Return a clock that moves one second each time it is read."""
    ticks = itertools.count()
    return lambda: NOW + timedelta(seconds=next(ticks))


def record_run(path: Path, run: Callable[[Venue, RecordingListener], object]) -> RecordingListener:
    """Run ``run`` against a recording simulated venue; return what its listener heard."""
    heard = RecordingListener()
    recording = SimulatedVenue(clock=lambda: NOW, recorder=SessionRecorder(path))
    recording.start(heard)
    try:
        run(recording, heard)
    finally:
        recording.stop()
    return heard


class TestReplayVenue(VenueContract):
    """ReplayVenue keeps the venue contract, replaying each test's own simulated run."""

    @pytest.fixture
    def venue(
        self, listener: RecordingListener, request: pytest.FixtureRequest, tmp_path: Path
    ) -> Iterator[Venue]:
        """Record this test against the simulated venue, then yield a replay of it."""
        path = tmp_path / "session.jsonl"
        body = request.function  # bound to this test's instance
        assert inspect.ismethod(body)
        wanted = inspect.signature(body).parameters

        def run(venue: Venue, heard: RecordingListener) -> None:
            fixtures = {"venue": venue, "listener": heard}
            body(**{name: fixtures[name] for name in fixtures if name in wanted})

        recorded = record_run(path, run)
        replay = ReplayVenue(load_session(path), clock=lambda: NOW)
        replay.start(listener)
        yield replay
        replay.stop()
        assert listener.reports == recorded.reports
        assert replay.records_left == 0

    def provide_quote(self, venue: Venue, symbol: str, bid: int, ask: int, size: int) -> None:
        """Push a quote as market data would, to the recording and the replay alike."""
        assert isinstance(venue, ThreadedVenue)
        venue.on_quote(quote(symbol, bid, ask, size))


@pytest.fixture
def listener() -> RecordingListener:
    return RecordingListener()


def started(path: Path, listener: RecordingListener) -> ReplayVenue:
    venue = ReplayVenue(load_session(path), clock=ticking_clock())
    venue.start(listener)
    return venue


def scenario(venue: Venue, heard: RecordingListener, prefix: str) -> None:
    """Quote, fill in parts, rest, replace, cancel, resubmit and expire, naming ids by prefix."""
    assert isinstance(venue, ThreadedVenue)
    first, resting, replacement = f"{prefix}-1", f"{prefix}-2", f"{prefix}-3"
    venue.on_quote(quote("AAPL", BID, ASK, 40))
    venue.submit(buy(first, qty=50))
    venue.submit(buy(resting, qty=10, limit_price=BID - 100))
    venue.submit(buy(resting, qty=10, limit_price=BID - 100))  # a resubmission: dropped
    venue.on_quote(quote("AAPL", BID, ASK, 100))
    venue.replace(resting, buy(replacement, qty=20, limit_price=BID - 200))
    venue.cancel(replacement)
    venue.cancel(replacement)
    venue.expire_day()
    heard.wait_kind(replacement, "cancel_rejected")


def test_a_replay_reproduces_the_recording_with_live_ids(
    listener: RecordingListener, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"
    heard = RecordingListener()
    recording = SimulatedVenue(
        clock=ticking_clock(),
        fees=FeeSchedule(per_share_price_units=30),
        liquidity_fraction=0.5,
        recorder=SessionRecorder(path),
    )
    recording.start(heard)
    try:
        scenario(recording, heard, "rec")
    finally:
        recording.stop()
    replay = started(path, listener)  # its own clock reads other times; reports keep theirs
    try:
        scenario(replay, listener, "live")
        assert replay.order_state("live-1").open is False
    finally:
        replay.stop()
    live_ids = {f"rec-{n}": f"live-{n}" for n in (1, 2, 3)}
    expected = [msgspec.structs.replace(r, order_id=live_ids[r.order_id]) for r in heard.reports]
    assert listener.reports == expected
    assert [r.qty for r in expected if r.kind == "fill"] == [20, 30]  # half of 40, then of 100
    assert [r.fee_cents for r in expected if r.kind == "fill"] == [6, 9]
    assert replay.records_left == 0


def test_a_diverging_input_is_refused_and_the_session_waits_for_a_match(
    listener: RecordingListener, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "session.jsonl"

    def run(venue: Venue, heard: RecordingListener) -> None:
        assert isinstance(venue, ThreadedVenue)
        venue.on_quote(quote("AAPL", BID, ASK, 100))
        venue.submit(buy("o1", qty=10))
        heard.wait_kind("o1", "fill")

    recorded = record_run(path, run)
    replay = started(path, listener)
    try:
        replay.on_quote(quote("MSFT", BID, ASK, 100))  # not the recorded symbol: ignored
        replay.on_quote(quote("AAPL", BID, ASK, 100))
        replay.submit(buy("x1", qty=11))  # not the recorded quantity
        replay.cancel("o1")  # the session expects a submit
        replay.submit(buy("x2", qty=10))  # the recorded submit, under a live id
        replay.submit(buy("x3", qty=10))  # nothing left to replay
        replay.submit(buy("x2", qty=10))  # a known id: dropped, not answered
        replay.replace("x2", buy("x4"))
        listener.wait_kind("x2", "replace_rejected")
    finally:
        replay.stop()
    outcome = [(r.kind, r.order_id, r.reason) for r in listener.reports]
    assert outcome == [
        ("rejected", "x1", "replay_diverged"),
        ("cancel_rejected", "o1", "replay_diverged"),
        ("accepted", "x2", None),
        ("fill", "x2", None),
        ("rejected", "x3", "replay_exhausted"),
        ("replace_rejected", "x2", "replay_exhausted"),
    ]
    played = [msgspec.structs.replace(r, order_id="x2") for r in recorded.reports]
    assert listener.of("x2")[:2] == played
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert sum("diverged from its session at line" in m for m in warnings) == 3
    assert sum("dropped a resubmitted order x2" in m for m in warnings) == 1


def test_an_id_paired_with_another_does_not_match(
    listener: RecordingListener, tmp_path: Path
) -> None:
    path = tmp_path / "session.jsonl"

    def run(venue: Venue, heard: RecordingListener) -> None:
        venue.submit(buy("o1", limit_price=BID))
        venue.submit(buy("o2", limit_price=BID))
        venue.cancel("o1")
        heard.wait_kind("o1", "canceled")

    record_run(path, run)
    replay = started(path, listener)
    try:
        replay.submit(buy("a", limit_price=BID))
        replay.submit(buy("b", limit_price=BID))
        replay.cancel("b")  # the recorded cancel is of o1, which is "a" here
        replay.cancel("a")
        listener.wait_kind("a", "canceled")
    finally:
        replay.stop()
    assert [(r.kind, r.order_id, r.reason) for r in listener.reports] == [
        ("accepted", "a", None),
        ("accepted", "b", None),
        ("cancel_rejected", "b", "replay_diverged"),
        ("canceled", "a", None),
    ]


def test_the_sample_session_loads_and_replays(listener: RecordingListener) -> None:
    session = load_session(SAMPLE)
    assert len(session.records) == 7
    replay = ReplayVenue(session, clock=lambda: NOW)
    replay.start(listener)
    try:
        replay.on_quote(quote("AAPL", BID, ASK, 60))
        replay.submit(buy("mine-1", qty=100))
        replay.submit(buy("mine-2", qty=50, limit_price=990_000, time_in_force="gtc"))
        replay.on_quote(quote("AAPL", BID - 100, BID, 40))
        replay.cancel("mine-2")
        replay.cancel("mine-2")
        replay.expire_day()
        listener.wait_kind("mine-2", "cancel_rejected")
        assert replay.order_state("mine-1").open is False
    finally:
        replay.stop()
    assert [(r.kind, r.order_id, r.qty, r.price, r.fee_cents) for r in listener.reports] == [
        ("accepted", "mine-1", 0, 0, 0),
        ("fill", "mine-1", 60, 1_000_100, 18),
        ("accepted", "mine-2", 0, 0, 0),
        ("fill", "mine-1", 40, 1_000_000, 12),
        ("canceled", "mine-2", 0, 0, 0),
        ("cancel_rejected", "mine-2", 0, 0, 0),
    ]
    assert listener.reports[3].timestamp == datetime(2025, 1, 2, 15, 30, 5, tzinfo=UTC)
    assert replay.records_left == 0


def test_a_replay_venue_refuses_orders_in_an_outage_and_before_start(
    listener: RecordingListener,
) -> None:
    replay = ReplayVenue(load_session(SAMPLE))
    with pytest.raises(VenueUnavailableError):
        replay.submit(buy("o1"))
    replay.start(listener)
    try:
        replay.fail()
        with pytest.raises(VenueUnavailableError):
            replay.cancel("o1")
        with pytest.raises(VenueUnavailableError):
            replay.order_state("o1")
        replay.recover()
        assert replay.order_state("o1").known is False
    finally:
        replay.stop()


HEADER = '{"format": "agora.venue-session", "version": 1}'
ORDER = '{"order_id": "o1", "symbol": "AAPL", "side": "buy", "order_type": "market", '
ORDER += '"time_in_force": "day", "qty": 1}'
ACCEPTED = '{{"kind": "accepted", "order_id": "{order_id}", "timestamp": "2025-01-02T15:30:00Z"}}'
SUBMIT = '{{"kind": "submit", "order": {order}, "reports": [{reports}]}}'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "line 1: empty file"),
        (['{"format": "agora.venue-session", "version": 2}'], "line 1: bad header"),
        (['{"kind": "quote", "symbol": "AAPL"}'], "line 1: bad header"),
        ([HEADER, '{"kind": "quote", "symbol": "AAPL"'], "line 2: not JSON"),
        ([HEADER, "", '{"kind": "trade"}'], "line 3: unknown record kind 'trade'"),
        ([HEADER, '{"kind": "cancel"}'], "line 2: bad record"),
        ([HEADER, '{"kind": "quote", "symbol": "AAPL", "sybmol": "X"}'], "line 2: bad record"),
        (
            [HEADER, SUBMIT.format(order=ORDER, reports=ACCEPTED.format(order_id="o2"))],
            "line 2: report about order 'o2', which no command introduced",
        ),
    ],
)
def test_a_bad_session_file_names_its_line(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError) as raised:
        load_session(path)
    assert raised.value.code == "invalid_session"
    assert message in raised.value.message


def test_a_missing_session_file_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read"):
        load_session(tmp_path / "missing.jsonl")


def test_reports_keep_every_recorded_field(tmp_path: Path) -> None:
    path = tmp_path / "session.jsonl"
    fill = '{"kind": "fill", "order_id": "o1", "timestamp": "2025-01-02T15:30:07Z", '
    fill += '"fill_id": "f-9", "qty": 1, "price": 1000100, "fee_cents": 3, "venue_order_id": "v"}'
    path.write_text("\n".join([HEADER, SUBMIT.format(order=ORDER, reports=fill)]))
    (record,) = load_session(path).records
    assert list(record.reports) == [
        VenueReport(
            kind="fill",
            order_id="o1",
            timestamp=datetime(2025, 1, 2, 15, 30, 7, tzinfo=UTC),
            fill_id="f-9",
            qty=1,
            price=1_000_100,
            fee_cents=3,
            venue_order_id="v",
        )
    ]
