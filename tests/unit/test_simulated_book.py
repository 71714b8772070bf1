"""The paper venue's matching: fills against the quote, time in force, stops, priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agora.core.errors import ConflictError
from agora.execution.venues.reports import Quote, VenueOrder, VenueReport
from agora.execution.venues.simulated import SimulatedBook

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
FINAL = {"canceled", "rejected", "expired", "replaced"}


def order(order_id: str, side: str = "buy", qty: int = 100, **fields: Any) -> VenueOrder:
    """Return a day limit order on AAPL at 100.00 unless told otherwise."""
    values: dict[str, Any] = {
        "symbol": "AAPL",
        "order_type": "limit",
        "time_in_force": "day",
        "limit_price": 1_000_000,
    }
    values.update(fields)
    return VenueOrder(order_id=order_id, side=side, qty=qty, **values)


def quote(bid: int, ask: int, size: int = 100, last: int | None = None, **kw: Any) -> Quote:
    """Return an AAPL quote with ``size`` on both sides, last at the bid unless told."""
    values: dict[str, Any] = {"symbol": "AAPL", "bid_size": size, "ask_size": size}
    values.update(kw)
    return Quote(bid=bid, ask=ask, last=bid if last is None else last, timestamp=NOW, **values)


def kinds(reports: list[VenueReport]) -> list[tuple[str, str]]:
    return [(r.kind, r.order_id) for r in reports]


def fills(reports: list[VenueReport]) -> list[tuple[str, int, int]]:
    return [(r.order_id, r.qty, r.price) for r in reports if r.kind == "fill"]


@pytest.fixture
def book() -> SimulatedBook:
    return SimulatedBook()


def remaining(book: SimulatedBook, order_id: str) -> int | None:
    found = [r.remaining for r in book.resting("AAPL") if r.order.order_id == order_id]
    return found[0] if found else None


def test_marketable_buy_fills_at_ask_up_to_size_then_more_on_next_quote(
    book: SimulatedBook,
) -> None:
    book.on_quote(quote(999_900, 1_000_000, size=30), NOW)
    reports = book.submit(order("b1", limit_price=1_000_100), NOW)
    assert kinds(reports) == [("accepted", "b1"), ("fill", "b1")]
    assert reports[0].venue_order_id == "sim-ord-1"
    assert fills(reports) == [("b1", 30, 1_000_000)]
    assert reports[1].fill_id == "sim-1"
    assert remaining(book, "b1") == 70
    quoted = book.quote("AAPL")
    assert quoted is not None
    assert quoted.ask_size == 0
    assert fills(book.on_quote(quote(999_900, 1_000_050, size=50), NOW)) == [("b1", 50, 1_000_050)]
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=50), NOW)) == [("b1", 20, 1_000_000)]
    assert book.open_order_ids() == []


def test_quoted_size_is_shared_until_the_next_quote(book: SimulatedBook) -> None:
    book.on_quote(quote(999_900, 1_000_000, size=30), NOW)
    assert fills(book.submit(order("b1", qty=20), NOW)) == [("b1", 20, 1_000_000)]
    assert fills(book.submit(order("b2", qty=20), NOW)) == [("b2", 10, 1_000_000)]
    assert fills(book.submit(order("b3", qty=20), NOW)) == []


def test_non_marketable_limit_rests_then_fills_when_the_quote_crosses(book: SimulatedBook) -> None:
    book.on_quote(quote(1_000_100, 1_000_200), NOW)
    assert kinds(book.submit(order("b1", limit_price=1_000_000), NOW)) == [("accepted", "b1")]
    assert fills(book.on_quote(quote(1_000_000, 1_000_100), NOW)) == []
    assert fills(book.on_quote(quote(999_800, 999_900, size=500), NOW)) == [("b1", 100, 999_900)]


def test_sells_fill_at_the_bid(book: SimulatedBook) -> None:
    book.on_quote(quote(1_000_500, 1_000_600, size=40), NOW)
    assert fills(book.submit(order("s1", side="sell"), NOW)) == [("s1", 40, 1_000_500)]
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=500), NOW)) == []
    assert fills(book.on_quote(quote(1_000_000, 1_000_100, size=500), NOW)) == [
        ("s1", 60, 1_000_000)
    ]
    book.on_quote(quote(990_000, 990_100, size=500), NOW)
    market = order("s2", side="sell", order_type="market", limit_price=None, qty=5)
    assert fills(book.submit(market, NOW)) == [("s2", 5, 990_000)]


def test_ioc_fills_what_it_can_and_cancels_the_rest(book: SimulatedBook) -> None:
    book.on_quote(quote(999_900, 1_000_000, size=30), NOW)
    reports = book.submit(order("b1", time_in_force="ioc"), NOW)
    assert kinds(reports) == [("accepted", "b1"), ("fill", "b1"), ("canceled", "b1")]
    assert reports[2].reason == "ioc"
    assert book.open_order_ids() == []
    away = book.submit(order("b2", time_in_force="ioc", limit_price=990_000), NOW)
    assert kinds(away) == [("accepted", "b2"), ("canceled", "b2")]


def test_fok_fills_whole_or_not_at_all(book: SimulatedBook) -> None:
    book.on_quote(quote(999_900, 1_000_000, size=100), NOW)
    short = book.submit(order("b1", qty=101, time_in_force="fok"), NOW)
    assert kinds(short) == [("accepted", "b1"), ("canceled", "b1")]
    assert short[1].reason == "fok"
    whole = book.submit(order("b2", qty=100, time_in_force="fok"), NOW)
    assert fills(whole) == [("b2", 100, 1_000_000)]
    assert kinds(whole)[-1] == ("fill", "b2")


def test_without_a_quote_orders_rest_and_ioc_fok_cancel(book: SimulatedBook) -> None:
    assert kinds(book.submit(order("b1", order_type="market", limit_price=None), NOW)) == [
        ("accepted", "b1")
    ]
    assert kinds(book.submit(order("b2", time_in_force="ioc"), NOW))[-1] == ("canceled", "b2")
    assert kinds(book.submit(order("b3", time_in_force="fok"), NOW))[-1] == ("canceled", "b3")
    assert book.open_order_ids() == ["b1"]
    assert book.quote("AAPL") is None


def test_stops_trigger_on_the_last_price_only(book: SimulatedBook) -> None:
    stop = order("b1", order_type="stop", limit_price=None, stop_price=1_010_000)
    book.on_quote(quote(1_000_000, 1_000_100), NOW)
    book.submit(stop, NOW)
    # The ask is through the stop but the last is not: nothing happens.
    assert book.on_quote(quote(1_010_000, 1_020_000, last=1_009_900), NOW) == []
    assert book.resting("AAPL")[0].triggered is False
    assert fills(book.on_quote(quote(1_010_000, 1_020_000, last=1_010_000), NOW)) == [
        ("b1", 100, 1_020_000)
    ]


def test_sell_stop_limit_triggers_then_works_as_a_limit(book: SimulatedBook) -> None:
    stop = order(
        "s1", side="sell", order_type="stop_limit", stop_price=990_000, limit_price=985_000
    )
    book.on_quote(quote(1_000_000, 1_000_100), NOW)
    book.submit(stop, NOW)
    assert book.on_quote(quote(980_000, 980_100, last=990_100), NOW) == []
    assert book.on_quote(quote(980_000, 980_100, last=990_000), NOW) == []
    assert book.resting("AAPL")[0].triggered is True
    assert fills(book.on_quote(quote(985_000, 985_100, last=970_000), NOW)) == [
        ("s1", 100, 985_000)
    ]


def test_stop_already_reached_on_arrival_triggers_at_once(book: SimulatedBook) -> None:
    book.on_quote(quote(1_000_000, 1_000_100, last=1_000_000), NOW)
    stop = order("b1", qty=10, order_type="stop", limit_price=None, stop_price=999_000)
    assert fills(book.submit(stop, NOW)) == [("b1", 10, 1_000_100)]


def test_market_buy_is_capped_by_its_protection_price(book: SimulatedBook) -> None:
    book.on_quote(quote(1_000_000, 1_000_100), NOW)
    capped = order("b1", order_type="market", limit_price=None, protection_price=1_000_000)
    assert kinds(book.submit(capped, NOW)) == [("accepted", "b1")]
    assert fills(book.on_quote(quote(1_000_000, 1_000_050), NOW)) == []
    assert fills(book.on_quote(quote(999_900, 1_000_000), NOW)) == [("b1", 100, 1_000_000)]
    open_market = order("b2", order_type="market", limit_price=None, qty=5)
    book.on_quote(quote(5_000_000, 5_000_100), NOW)
    assert fills(book.submit(open_market, NOW)) == [("b2", 5, 5_000_100)]


def test_price_time_priority_across_resting_orders(book: SimulatedBook) -> None:
    book.on_quote(quote(980_000, 1_020_000, size=0), NOW)
    book.submit(order("low", qty=10, limit_price=1_000_000), NOW)
    book.submit(order("high-1", qty=10, limit_price=1_000_100), NOW)
    book.submit(order("high-2", qty=10, limit_price=1_000_100), NOW)
    book.submit(order("mkt", qty=10, order_type="market", limit_price=None), NOW)
    book.submit(order("sell", side="sell", qty=10, limit_price=1_010_000), NOW)
    reports = book.on_quote(quote(990_000, 1_000_000, size=35), NOW)
    assert fills(reports) == [
        ("mkt", 10, 1_000_000),
        ("high-1", 10, 1_000_000),
        ("high-2", 10, 1_000_000),
        ("low", 5, 1_000_000),
    ]
    assert [r.fill_id for r in reports] == ["sim-1", "sim-2", "sim-3", "sim-4"]
    assert remaining(book, "low") == 5


def test_cancel_resting_and_too_late_or_unknown(book: SimulatedBook) -> None:
    book.submit(order("b1"), NOW)
    canceled = book.cancel("b1", NOW)
    assert kinds(canceled) == [("canceled", "b1")]
    assert canceled[0].venue_order_id == "sim-ord-1"
    assert book.cancel("b1", NOW)[0].reason == "too_late"
    assert book.cancel("nope", NOW)[0].reason == "unknown_order"
    book.on_quote(quote(999_900, 1_000_000), NOW)
    book.submit(order("b2"), NOW)
    late = book.cancel("b2", NOW)
    assert kinds(late) == [("cancel_rejected", "b2")]
    assert late[0].reason == "too_late"
    # A canceled order never trades, even when the quote later crosses its old price.
    assert book.on_quote(quote(900_000, 900_100), NOW) == []


def test_replace_with_more_qty_loses_time_priority_and_silences_the_old_order(
    book: SimulatedBook,
) -> None:
    book.submit(order("a", qty=10), NOW)
    book.submit(order("b", qty=10), NOW)
    reports = book.replace("a", order("a2", qty=11), NOW)
    assert kinds(reports) == [("replaced", "a"), ("accepted", "a2")]
    assert book.open_order_ids() == ["b", "a2"]
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=15), NOW)) == [
        ("b", 10, 1_000_000),
        ("a2", 5, 1_000_000),
    ]
    assert book.cancel("a", NOW)[0].reason == "too_late"
    assert book.replace("a", order("a3"), NOW)[0].kind == "replace_rejected"


def test_replace_with_less_qty_at_the_same_price_keeps_time_priority(book: SimulatedBook) -> None:
    book.submit(order("a", qty=10), NOW)
    book.submit(order("b", qty=10), NOW)
    book.replace("a", order("a2", qty=6), NOW)
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=8), NOW)) == [
        ("a2", 6, 1_000_000),
        ("b", 2, 1_000_000),
    ]


def test_replace_at_another_price_loses_time_priority(book: SimulatedBook) -> None:
    book.submit(order("a", qty=10, limit_price=990_000), NOW)
    book.submit(order("b", qty=10, limit_price=1_000_000), NOW)
    book.submit(order("c", qty=10, limit_price=1_000_000), NOW)
    book.replace("a", order("a2", qty=10, limit_price=1_000_000), NOW)  # price up: joins the back
    assert [f[0] for f in fills(book.on_quote(quote(999_900, 1_000_000, size=25), NOW))] == [
        "b",
        "c",
        "a2",
    ]


def test_replace_fills_at_once_when_the_new_order_is_marketable(book: SimulatedBook) -> None:
    book.on_quote(quote(999_900, 1_000_100, size=50), NOW)
    book.submit(order("a", qty=10), NOW)
    reports = book.replace("a", order("a2", qty=10, limit_price=1_000_100), NOW)
    assert kinds(reports) == [("replaced", "a"), ("accepted", "a2"), ("fill", "a2")]


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        (order("a2", symbol="MSFT"), "symbol_mismatch"),
        (order("a2", side="sell"), "side_mismatch"),
        (order("a2", qty=0), "invalid_qty"),
        (order("a"), "duplicate_order_id"),
    ],
)
def test_replace_refused_leaves_the_old_order_working(
    book: SimulatedBook, new: VenueOrder, reason: str
) -> None:
    book.submit(order("a"), NOW)
    refused = book.replace("a", new, NOW)
    assert kinds(refused) == [("replace_rejected", "a")]
    assert refused[0].reason == reason
    assert book.open_order_ids() == ["a"]


def test_replace_unknown_order_is_refused(book: SimulatedBook) -> None:
    assert book.replace("ghost", order("g2"), NOW)[0].reason == "unknown_order"


def test_expire_day_expires_session_orders_and_leaves_gtc(book: SimulatedBook) -> None:
    book.submit(order("day"), NOW)
    book.submit(order("gtc", time_in_force="gtc"), NOW)
    book.submit(order("opg", time_in_force="opg"), NOW)
    book.submit(order("cls", time_in_force="cls"), NOW)
    book.submit(order("stop", order_type="stop", limit_price=None, stop_price=2_000_000), NOW)
    reports = book.expire_day(NOW + timedelta(hours=1))
    assert kinds(reports) == [
        ("expired", "day"),
        ("expired", "opg"),
        ("expired", "cls"),
        ("expired", "stop"),
    ]
    assert book.open_order_ids() == ["gtc"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"qty": 0}, "invalid_qty"),
        ({"qty": -5}, "invalid_qty"),
        ({"side": "short"}, "invalid_side"),
        ({"order_type": "trailing"}, "invalid_order_type"),
        ({"time_in_force": "gtd"}, "invalid_time_in_force"),
        ({"symbol": ""}, "invalid_symbol"),
        ({"limit_price": None}, "missing_limit_price"),
        ({"limit_price": 0}, "invalid_limit_price"),
        ({"order_type": "market"}, "unexpected_limit_price"),
        ({"order_type": "stop", "limit_price": None}, "missing_stop_price"),
        ({"order_type": "stop_limit", "stop_price": -1}, "invalid_stop_price"),
        ({"stop_price": 1_000_000}, "unexpected_stop_price"),
        ({"protection_price": 0}, "invalid_protection_price"),
        (
            {"order_type": "stop", "limit_price": None, "stop_price": 1, "time_in_force": "ioc"},
            "time_in_force_not_supported",
        ),
    ],
)
def test_malformed_orders_are_rejected(
    book: SimulatedBook, fields: dict[str, Any], reason: str
) -> None:
    book.on_quote(quote(999_900, 1_000_000), NOW)
    reports = book.submit(order("x", **fields), NOW)
    assert kinds(reports) == [("rejected", "x")]
    assert reports[0].reason == reason
    assert book.open_order_ids() == []
    assert book.cancel("x", NOW)[0].reason == "too_late"


def test_reusing_an_order_id_raises(book: SimulatedBook) -> None:
    book.submit(order("a"), NOW)
    with pytest.raises(ConflictError):
        book.submit(order("a"), NOW)


def test_quote_side_without_a_price_offers_nothing(book: SimulatedBook) -> None:
    book.on_quote(quote(0, 0, size=100), NOW)
    assert fills(book.submit(order("b", order_type="market", limit_price=None), NOW)) == []
    assert (
        fills(book.submit(order("s", side="sell", order_type="market", limit_price=None), NOW))
        == []
    )


def test_fill_ids_use_the_venue_name() -> None:
    book = SimulatedBook("paper")
    book.on_quote(quote(999_900, 1_000_000), NOW)
    assert [r.fill_id for r in book.submit(order("b", qty=10), NOW)] == [None, "paper-1"]


# -- price levels: rank and time inside one price bound, lazy cancels ------------------------------


def test_market_buy_at_a_protection_price_goes_ahead_of_older_limits_at_that_price(
    book: SimulatedBook,
) -> None:
    book.on_quote(quote(980_000, 1_020_000, size=0), NOW)
    book.submit(order("limit-1", qty=10, limit_price=1_000_000), NOW)
    book.submit(order("limit-2", qty=10, limit_price=1_000_000), NOW)
    capped = order("mkt", qty=10, order_type="market", limit_price=None, protection_price=1_000_000)
    book.submit(capped, NOW)
    book.submit(order("limit-3", qty=10, limit_price=1_000_000), NOW)
    assert [f[0] for f in fills(book.on_quote(quote(990_000, 1_000_000, size=40), NOW))] == [
        "mkt",
        "limit-1",
        "limit-2",
        "limit-3",
    ]


def test_triggered_stop_limit_keeps_its_arrival_place_among_limits_at_its_price(
    book: SimulatedBook,
) -> None:
    book.on_quote(quote(1_000_000, 1_000_100, size=0, last=1_000_000), NOW)
    stop = order("stop", side="sell", qty=10, order_type="stop_limit", stop_price=990_000)
    book.submit(stop, NOW)  # sells at 100.00 once the last trades at 99.00 or lower
    book.submit(order("limit-1", side="sell", qty=10), NOW)
    book.submit(order("limit-2", side="sell", qty=10), NOW)
    assert book.on_quote(quote(980_000, 1_000_100, size=0, last=990_000), NOW) == []
    reports = book.on_quote(quote(1_000_000, 1_000_100, size=25, last=995_000), NOW)
    assert fills(reports) == [
        ("stop", 10, 1_000_000),
        ("limit-1", 10, 1_000_000),
        ("limit-2", 5, 1_000_000),
    ]


def test_triggered_stop_goes_ahead_of_limits_at_its_bound_and_behind_older_stops(
    book: SimulatedBook,
) -> None:
    book.on_quote(quote(1_000_000, 1_000_100, size=0, last=1_000_000), NOW)
    for name in ("stop-1", "stop-2"):
        stop = order(name, qty=10, order_type="stop", limit_price=None, stop_price=1_010_000)
        book.submit(stop, NOW)
    book.submit(order("market", qty=10, order_type="market", limit_price=None), NOW)
    book.on_quote(quote(1_010_000, 1_010_100, size=0, last=1_010_000), NOW)  # both trigger
    assert [r.triggered for r in book.resting("AAPL")] == [True, True, True]
    reports = book.on_quote(quote(1_010_000, 1_010_100, size=25), NOW)
    assert [f[0] for f in fills(reports)] == ["stop-1", "stop-2", "market"]


def test_a_level_emptied_by_fills_starts_again_for_new_orders(book: SimulatedBook) -> None:
    book.submit(order("first", qty=10), NOW)
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=10), NOW)) == [
        ("first", 10, 1_000_000)
    ]
    book.on_quote(quote(1_000_100, 1_000_200), NOW)
    book.submit(order("second", qty=10), NOW)
    book.submit(order("better", qty=10, limit_price=1_000_100), NOW)
    assert fills(book.on_quote(quote(999_900, 1_000_000, size=30), NOW)) == [
        ("better", 10, 1_000_000),
        ("second", 10, 1_000_000),
    ]


def test_many_cancels_leave_the_survivors_in_priority_order(book: SimulatedBook) -> None:
    book.on_quote(quote(1_000_100, 1_000_200, size=0), NOW)
    for i in range(300):
        book.submit(order(f"b{i}", qty=1, limit_price=1_000_000 - (i % 3) * 100), NOW)
    for i in range(300):
        if i % 10:
            assert kinds(book.cancel(f"b{i}", NOW)) == [("canceled", f"b{i}")]
    survivors = [f"b{i}" for i in range(0, 300, 10)]
    assert book.open_order_ids() == survivors
    reports = book.on_quote(quote(990_000, 990_100, size=1_000), NOW)
    by_price = sorted(survivors, key=lambda order_id: (int(order_id[1:]) % 3, int(order_id[1:])))
    assert [f[0] for f in fills(reports)] == by_price
    assert book.open_order_ids() == []
    assert book.cancel("b1", NOW)[0].reason == "too_late"
