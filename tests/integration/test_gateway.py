"""The broker gateway bridging a real venue thread into the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from agora.execution.gateway import BrokerGateway, GatewayStoppedError
from agora.execution.venues.protocol import OrderState, VenueListener, VenueUnavailableError
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated.venue import SimulatedVenue

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
BID, ASK = 1_000_000, 1_000_100
WAIT_SECONDS = 10.0


def buy(order_id: str, qty: int = 10, limit_price: int = ASK) -> VenueOrder:
    """Return a day limit buy on AAPL, marketable at ASK unless told otherwise."""
    return VenueOrder(
        order_id=order_id,
        symbol="AAPL",
        side="buy",
        order_type="limit",
        time_in_force="day",
        qty=qty,
        limit_price=limit_price,
    )


def quote(size: int, ask: int = ASK) -> Quote:
    """Return an AAPL quote with ``size`` on both sides."""
    return Quote(
        symbol="AAPL", bid=BID, ask=ask, bid_size=size, ask_size=size, last=BID, timestamp=NOW
    )


def report(kind: str, order_id: str, fill_id: str | None = None, qty: int = 0) -> VenueReport:
    """Return a venue report stamped NOW."""
    return VenueReport(kind=kind, order_id=order_id, timestamp=NOW, fill_id=fill_id, qty=qty)


class Collector:
    """An ``on_report`` that records what it is handed, optionally slowly."""

    def __init__(self, delay: Callable[[int], float] = lambda n: 0.0) -> None:
        self.reports: list[VenueReport] = []
        self.threads: set[int] = set()
        self._delay = delay
        self._changed = asyncio.Event()

    async def __call__(self, report: VenueReport) -> None:
        """Record ``report`` after the configured delay."""
        await asyncio.sleep(self._delay(len(self.reports)))
        self.reports.append(report)
        self.threads.add(threading.get_ident())
        self._changed.set()

    async def wait_for(self, done: Callable[[list[VenueReport]], bool]) -> None:
        """Wait until ``done(reports)`` holds, with a generous timeout."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not done(self.reports):
                self._changed.clear()
                await self._changed.wait()

    def keys(self) -> list[tuple[str, str, str | None]]:
        """Return (kind, order id, fill id) of each report handed on."""
        return [(r.kind, r.order_id, r.fill_id) for r in self.reports]


class RecordingGateway(BrokerGateway):
    """A gateway that notes which thread runs ``_deliver`` and what arrived."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deliver_threads: set[int] = set()
        self.arrivals: list[VenueReport] = []

    def _deliver(self, report: VenueReport) -> None:
        self.deliver_threads.add(threading.get_ident())
        self.arrivals.append(report)
        super()._deliver(report)


class SpyVenue(SimulatedVenue):
    """A simulated venue that counts requests and records what it emits, on which thread."""

    def __init__(self, **options: Any) -> None:
        super().__init__(clock=lambda: NOW, **options)
        self.submits = self.state_queries = 0
        self.emitted: list[VenueReport] = []
        self.threads: set[int] = set()

    def start(self, listener: VenueListener) -> None:
        spy = self

        class Spy:
            def on_report(self, report: VenueReport) -> None:
                spy.emitted.append(report)
                spy.threads.add(threading.get_ident())
                listener.on_report(report)

        super().start(Spy())

    def submit(self, order: VenueOrder) -> None:
        self.submits += 1
        super().submit(order)

    def order_state(self, order_id: str) -> OrderState:
        self.state_queries += 1
        return super().order_state(order_id)


class SilentVenue:
    """A venue stub that takes orders and never answers; its state answer is scripted."""

    name = "silent"

    def __init__(self, state: tuple[VenueReport, ...] | None = None) -> None:
        self.orders: list[VenueOrder] = []
        self.listener: VenueListener | None = None
        self.submitted = asyncio.Event()
        self._state = state

    def start(self, listener: VenueListener) -> None:
        self.listener = listener

    def stop(self) -> None:
        self.listener = None

    def submit(self, order: VenueOrder) -> None:
        self.orders.append(order)
        self.submitted.set()

    def cancel(self, order_id: str) -> None:
        pass

    def replace(self, order_id: str, new: VenueOrder) -> None:
        pass

    def order_state(self, order_id: str) -> OrderState:
        if self._state is None:
            return OrderState(order_id=order_id, known=False, open=False)
        return OrderState(order_id=order_id, known=True, open=False, reports=self._state)

    def send_from_another_thread(self, reports: list[VenueReport]) -> None:
        """Call the listener with ``reports`` from a fresh thread, as a late venue would."""
        listener = self.listener
        assert listener is not None

        def send() -> None:
            for report in reports:
                listener.on_report(report)

        thread = threading.Thread(target=send)
        thread.start()
        thread.join()


@asynccontextmanager
async def running(
    venue: Any, collector: Collector, ack_timeout_seconds: float = 2.0, gap_seconds: float = 0.5
) -> AsyncIterator[RecordingGateway]:
    """Start a gateway on ``venue`` for the block; stop it afterwards."""
    gateway = RecordingGateway(
        venue,
        on_report=collector,
        ack_timeout_seconds=ack_timeout_seconds,
        clock=lambda: NOW,
        gap_seconds=gap_seconds,
    )
    await gateway.start()
    try:
        yield gateway
    finally:
        await gateway.stop()


def filled(order_id: str, qty: int) -> Callable[[list[VenueReport]], bool]:
    """Return a predicate: ``order_id`` has fills totalling ``qty``."""
    return lambda rs: sum(r.qty for r in rs if r.order_id == order_id and r.kind == "fill") == qty


async def test_submit_returns_accepted_and_fills_follow_in_order() -> None:
    venue, collector = SpyVenue(), Collector()
    async with running(venue, collector) as gateway:
        venue.on_quote(quote(size=4))
        answer = await gateway.submit(buy("o1"))
        assert (answer.kind, answer.order_id) == ("accepted", "o1")
        venue.on_quote(quote(size=3))
        venue.on_quote(quote(size=3))
        await collector.wait_for(filled("o1", 10))
    assert [(r.kind, r.qty) for r in collector.reports] == [
        ("accepted", 0),
        ("fill", 4),
        ("fill", 3),
        ("fill", 3),
    ]
    assert (venue.submits, venue.state_queries) == (1, 0)


async def test_delivery_runs_on_the_loop_thread_and_the_venue_on_its_own() -> None:
    venue, collector = SpyVenue(), Collector()
    async with running(venue, collector) as gateway:
        venue.on_quote(quote(size=100))
        await gateway.submit(buy("o1"))
        await collector.wait_for(filled("o1", 10))
    loop_thread = threading.get_ident()
    assert gateway.deliver_threads == {loop_thread}
    assert collector.threads == {loop_thread}
    assert venue.threads
    assert loop_thread not in venue.threads


async def test_a_late_answer_is_reconciled_and_delivered_once() -> None:
    venue, collector = SpyVenue(latency_seconds=1.0), Collector()
    async with running(venue, collector, ack_timeout_seconds=0.05) as gateway:
        venue.on_quote(quote(size=100))
        answer = await gateway.submit(buy("o1"))
        assert (answer.kind, answer.order_id) == ("accepted", "o1")
        assert (venue.submits, venue.state_queries) == (1, 1)
    # stop() handed on everything the venue sent: the late reports arrived and were dropped.
    assert [r.kind for r in gateway.arrivals] == ["accepted", "fill"]
    assert [r.kind for r in collector.reports] == ["accepted", "fill"]


async def test_reports_arriving_after_reconciliation_are_not_delivered_twice() -> None:
    history = (report("accepted", "o1"), report("fill", "o1", "f1", 4))
    venue, collector = SilentVenue(state=history), Collector()
    async with running(venue, collector, ack_timeout_seconds=0.01) as gateway:
        answer = await gateway.submit(buy("o1"))
        assert answer == history[0]
        await collector.wait_for(lambda rs: len(rs) == 2)
        venue.send_from_another_thread([*history, report("fill", "o1", "f2", 6)])
        await collector.wait_for(lambda rs: len(rs) == 3)
    expected = [("accepted", "o1", None), ("fill", "o1", "f1"), ("fill", "o1", "f2")]
    assert collector.keys() == expected
    assert len(venue.orders) == 1


async def test_an_order_the_venue_never_saw_is_rejected_as_venue_timeout() -> None:
    venue, collector = SilentVenue(), Collector()
    async with running(venue, collector, ack_timeout_seconds=0.01) as gateway:
        answer = await gateway.submit(buy("o1"))
    assert (answer.kind, answer.order_id, answer.reason) == ("rejected", "o1", "venue_timeout")
    assert venue.orders == [buy("o1")]
    assert collector.reports == [answer]


async def test_venue_unavailable_propagates_from_submit() -> None:
    venue, collector = SpyVenue(), Collector()
    async with running(venue, collector) as gateway:
        venue.fail()
        with pytest.raises(VenueUnavailableError) as raised:
            await gateway.submit(buy("o1", limit_price=BID))
        assert raised.value.code == "broker_unavailable"
        venue.recover()
        answer = await gateway.submit(buy("o1", limit_price=BID))
        assert answer.kind == "accepted"


async def test_a_slow_on_report_does_not_reorder_reports() -> None:
    venue = SpyVenue()
    collector = Collector(delay=lambda n: 0.02 if n < 5 else 0.0)  # slow first, fast later
    ids = [f"o{n}" for n in range(8)]
    async with running(venue, collector) as gateway:
        venue.on_quote(quote(size=5))
        answers = await asyncio.gather(*(gateway.submit(buy(order_id)) for order_id in ids))
        assert {a.kind for a in answers} == {"accepted"}
        for _ in range(15):
            venue.on_quote(quote(size=5))
        await collector.wait_for(lambda rs: all(filled(o, 10)(rs) for o in ids))
    assert collector.reports == venue.emitted
    assert len(collector.reports) == len(set(collector.keys())) == 8 + 16


async def test_stop_fails_a_waiting_submit_and_later_calls() -> None:
    venue, collector = SilentVenue(), Collector()
    gateway = BrokerGateway(venue, on_report=collector, ack_timeout_seconds=60.0)
    await gateway.start()
    waiting = asyncio.create_task(gateway.submit(buy("o1")))
    async with asyncio.timeout(WAIT_SECONDS):
        await venue.submitted.wait()
    await gateway.stop()
    await gateway.stop()
    with pytest.raises(GatewayStoppedError):
        await waiting
    with pytest.raises(GatewayStoppedError):
        await gateway.submit(buy("o2"))
    with pytest.raises(GatewayStoppedError):
        await gateway.cancel("o1")


async def test_many_orders_each_answered_exactly_once() -> None:
    # Debug mode makes asyncio raise if the venue thread touches the loop other than thread-safely.
    asyncio.get_running_loop().set_debug(True)
    venue, collector = SpyVenue(), Collector()
    count = 10_000
    async with running(venue, collector) as gateway:
        venue.on_quote(quote(size=count * 10))
        answers = await asyncio.gather(*(gateway.submit(buy(f"o{n}")) for n in range(count)))
        await collector.wait_for(lambda rs: len(rs) == 2 * count)
    assert [a.order_id for a in answers] == [f"o{n}" for n in range(count)]
    assert {a.kind for a in answers} == {"accepted"}
    assert len(set(collector.keys())) == 2 * count
    assert venue.state_queries == 0


async def test_an_on_report_that_raises_does_not_stop_delivery() -> None:
    venue, seen = SpyVenue(), Collector()

    async def flaky(report: VenueReport) -> None:
        await seen(report)
        if report.kind == "accepted":
            raise RuntimeError("handler bug")

    gateway = BrokerGateway(venue, on_report=flaky)
    await gateway.start()
    try:
        venue.on_quote(quote(size=100))
        await gateway.submit(buy("o1"))
        await seen.wait_for(filled("o1", 10))
    finally:
        await gateway.stop()
    assert [r.kind for r in seen.reports] == ["accepted", "fill"]


def sequenced(order_id: str, *kinds: str) -> list[VenueReport]:
    """Return an order's reports with their per-order sequence numbers, fills 1 share each."""
    return [
        VenueReport(
            kind=kind,
            order_id=order_id,
            timestamp=NOW,
            seq=n,
            fill_id=f"f{n}" if kind == "fill" else None,
            qty=1 if kind == "fill" else 0,
            price=BID if kind == "fill" else 0,
        )
        for n, kind in enumerate(kinds, start=1)
    ]


async def test_sequenced_reports_are_handed_on_once_and_in_order() -> None:
    venue = SilentVenue()
    collector = Collector()
    accepted, fill, canceled = sequenced("o1", "accepted", "fill", "canceled")
    async with running(venue, collector):
        venue.send_from_another_thread([canceled, fill, canceled, accepted, fill, accepted])
        await collector.wait_for(lambda rs: len(rs) == 3)
        await asyncio.sleep(0.05)  # a repeat handed on late would show up here
    assert collector.reports == [accepted, fill, canceled]


async def test_a_gap_left_open_is_filled_from_the_venues_order_state() -> None:
    reports = sequenced("o1", "accepted", "fill", "fill")
    venue = SilentVenue(state=tuple(reports))
    collector = Collector()
    async with running(venue, collector, gap_seconds=0.01):
        venue.send_from_another_thread([reports[2]])  # 1 and 2 were lost on the way
        await collector.wait_for(lambda rs: len(rs) == 3)
    assert collector.reports == reports
