"""Every pre-trade rule at its boundary: at (or just under) passes, just over denies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agora.core.errors import RiskDeniedError
from agora.core.money import format_units
from agora.risk import (
    Denial,
    OrderIntent,
    PriceQuote,
    ReasonCode,
    RecentOrder,
    RiskContext,
    RiskEngine,
    RiskLimits,
    TradingState,
    cash_needed,
    default_rules,
)
from agora.risk.rules import (
    BuyingPowerRule,
    ConcentrationRule,
    DuplicateOrderRule,
    MaxNotionalRule,
    MaxQuantityRule,
    OrderRateRule,
    PriceCollarRule,
    PriceFreshnessRule,
    RestrictedSymbolRule,
    TradingStateRule,
)

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
LAST = 1_000_000  # $100.0000
MS = timedelta(milliseconds=1)


# -- object mother ----------------------------------------------------------------------------


def make_intent(**overrides: Any) -> OrderIntent:
    """Return a clean limit buy of 10 AAPL at $100, overridden by ``overrides``."""
    fields: dict[str, Any] = {
        "account_id": "acc-1",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "limit",
        "qty": 10,
        "qty_scale": 0,
        "limit_price": LAST,
        "stop_price": None,
        "client_order_id": "c-1",
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def make_context(**overrides: Any) -> RiskContext:
    """Return a healthy account context ($100k cash and equity, fresh price), overridden."""
    fields: dict[str, Any] = {
        "now": NOW,
        "limits": RiskLimits(),
        "account_state": TradingState.ACTIVE,
        "platform_state": TradingState.ACTIVE,
        "cash_available": 10_000_000,
        "shares_available": 0,
        "position_qty": 0,
        "open_buy_qty": 0,
        "equity_cents": 10_000_000,
        "last_price": PriceQuote(LAST, NOW - 100 * MS),
        "recent_orders": (),
        "recent_order_times": (),
    }
    fields.update(overrides)
    return RiskContext(**fields)


def make_recent(**overrides: Any) -> RecentOrder:
    """Return a recent order identical to make_intent()'s, accepted one second ago."""
    fields: dict[str, Any] = {
        "symbol": "AAPL",
        "side": "buy",
        "qty": 10,
        "limit_price": LAST,
        "stop_price": None,
        "client_order_id": "c-1",
        "at": NOW - timedelta(seconds=1),
    }
    fields.update(overrides)
    return RecentOrder(**fields)


def limits(**overrides: Any) -> RiskLimits:
    """Return default limits with ``overrides``."""
    return RiskLimits(**overrides)


def assert_denied(denial: Denial | None, rule: str, code: ReasonCode) -> None:
    """Assert ``denial`` comes from ``rule`` with ``code`` and a message."""
    assert denial is not None, f"expected {rule} to deny with {code}"
    assert (denial.rule, denial.code) == (rule, code), denial
    assert denial.message


# -- the whole set ----------------------------------------------------------------------------


def test_default_rules_run_in_the_documented_order() -> None:
    names = [rule.name for rule in RiskEngine(default_rules()).rules]
    assert names == [
        "trading_state",
        "restricted_symbol",
        "max_qty",
        "price_freshness",
        "price_collar",
        "max_notional",
        "buying_power",
        "concentration",
        "duplicate",
        "throttle",
    ]


@pytest.mark.parametrize("order_type", ["market", "limit", "stop", "stop_limit"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_clean_order_passes_every_rule(order_type: str, side: str) -> None:
    intent = make_intent(
        order_type=order_type,
        side=side,
        limit_price=LAST if "limit" in order_type else None,
        stop_price=LAST if "stop" in order_type else None,
    )
    ctx = make_context(shares_available=10, position_qty=10, recent_orders=(make_recent(qty=5),))
    for rule in default_rules():
        assert rule.check(intent, ctx) is None, rule.name
    assert RiskEngine(default_rules()).check(intent, ctx) is None


def test_engine_returns_the_first_denial_in_rule_order() -> None:
    engine = RiskEngine(default_rules())
    ctx = make_context(limits=limits(max_order_qty=5, restricted_symbols=frozenset({"AAPL"})))
    assert_denied(
        engine.check(make_intent(), ctx), "restricted_symbol", ReasonCode.RESTRICTED_SYMBOL
    )
    broke = make_context(limits=limits(max_order_qty=5), cash_available=0)
    assert_denied(engine.check(make_intent(), broke), "max_qty", ReasonCode.MAX_QTY)
    halted = make_context(platform_state=TradingState.HALTED, last_price=None)
    assert_denied(engine.check(make_intent(), halted), "trading_state", ReasonCode.TRADING_HALTED)


def test_engine_rejects_duplicate_rule_names() -> None:
    with pytest.raises(ValueError, match="unique"):
        RiskEngine((MaxQuantityRule(), MaxQuantityRule()))


def test_a_denial_becomes_a_risk_denied_error() -> None:
    error = Denial("max_qty", ReasonCode.MAX_QTY, "too many").to_error()
    assert isinstance(error, RiskDeniedError)
    assert (error.code, error.rule, error.message) == ("max_qty_exceeded", "max_qty", "too many")


# -- trading state ----------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["platform_state", "account_state"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_halted_denies_everything(who: str, side: str) -> None:
    ctx = make_context(**{who: TradingState.HALTED}, position_qty=100, shares_available=100)
    denial = TradingStateRule().check(make_intent(side=side), ctx)
    assert_denied(denial, "trading_state", ReasonCode.TRADING_HALTED)


def test_halted_outranks_reducing() -> None:
    ctx = make_context(platform_state=TradingState.REDUCING, account_state=TradingState.HALTED)
    denial = TradingStateRule().check(make_intent(side="sell"), ctx)
    assert_denied(denial, "trading_state", ReasonCode.TRADING_HALTED)


@pytest.mark.parametrize("who", ["platform_state", "account_state"])
def test_reducing_allows_a_sell_up_to_the_position_and_no_more(who: str) -> None:
    ctx = make_context(**{who: TradingState.REDUCING}, position_qty=10, shares_available=10)
    assert TradingStateRule().check(make_intent(side="sell", qty=10), ctx) is None
    denial = TradingStateRule().check(make_intent(side="sell", qty=11), ctx)
    assert_denied(denial, "trading_state", ReasonCode.REDUCING_ONLY)


@pytest.mark.parametrize("who", ["platform_state", "account_state"])
def test_reducing_denies_buys_and_sells_without_a_position(who: str) -> None:
    ctx = make_context(**{who: TradingState.REDUCING}, position_qty=0)
    assert_denied(
        TradingStateRule().check(make_intent(side="buy"), ctx),
        "trading_state",
        ReasonCode.REDUCING_ONLY,
    )
    assert_denied(
        TradingStateRule().check(make_intent(side="sell", qty=1), ctx),
        "trading_state",
        ReasonCode.REDUCING_ONLY,
    )


# -- restricted, max qty ----------------------------------------------------------------------


def test_restricted_symbol_denies_only_listed_names() -> None:
    ctx = make_context(limits=limits(restricted_symbols=frozenset({"GME"})))
    assert RestrictedSymbolRule().check(make_intent(symbol="AAPL"), ctx) is None
    denial = RestrictedSymbolRule().check(make_intent(symbol="GME", side="sell"), ctx)
    assert_denied(denial, "restricted_symbol", ReasonCode.RESTRICTED_SYMBOL)


def test_max_qty_boundary() -> None:
    ctx = make_context(limits=limits(max_order_qty=100))
    assert MaxQuantityRule().check(make_intent(qty=100), ctx) is None
    assert_denied(MaxQuantityRule().check(make_intent(qty=101), ctx), "max_qty", ReasonCode.MAX_QTY)


# -- price freshness --------------------------------------------------------------------------


@pytest.mark.parametrize("order_type", ["market", "limit", "stop", "stop_limit"])
def test_price_age_at_the_limit_passes_and_one_ms_more_is_stale(order_type: str) -> None:
    intent = make_intent(order_type=order_type, stop_price=LAST if "stop" in order_type else None)
    at_limit = make_context(last_price=PriceQuote(LAST, NOW - 5_000 * MS))
    assert PriceFreshnessRule().check(intent, at_limit) is None
    stale = make_context(last_price=PriceQuote(LAST, NOW - 5_001 * MS))
    assert_denied(
        PriceFreshnessRule().check(intent, stale), "price_freshness", ReasonCode.PRICE_STALE
    )
    denial = RiskEngine(default_rules()).check(intent, stale)
    assert_denied(denial, "price_freshness", ReasonCode.PRICE_STALE)


@pytest.mark.parametrize("order_type", ["market", "limit"])
@pytest.mark.parametrize("side", ["buy", "sell"])
def test_missing_price_fails_closed(order_type: str, side: str) -> None:
    intent = make_intent(order_type=order_type, side=side)
    ctx = make_context(last_price=None, shares_available=10, position_qty=10)
    denial = RiskEngine(default_rules()).check(intent, ctx)
    assert_denied(denial, "price_freshness", ReasonCode.PRICE_UNAVAILABLE)


def test_price_dependent_rules_fail_closed_on_their_own() -> None:
    ctx = make_context(last_price=None)
    market = make_intent(order_type="market", limit_price=None)
    assert_denied(
        PriceCollarRule().check(make_intent(), ctx), "price_collar", ReasonCode.PRICE_UNAVAILABLE
    )
    assert_denied(
        MaxNotionalRule().check(market, ctx), "max_notional", ReasonCode.PRICE_UNAVAILABLE
    )
    assert_denied(
        BuyingPowerRule().check(market, ctx), "buying_power", ReasonCode.PRICE_UNAVAILABLE
    )
    assert_denied(
        ConcentrationRule().check(market, ctx), "concentration", ReasonCode.PRICE_UNAVAILABLE
    )


# -- collar -----------------------------------------------------------------------------------


@pytest.mark.parametrize("order_type", ["limit", "stop_limit"])
@pytest.mark.parametrize(("edge", "beyond"), [(1_100_000, 1_100_001), (900_000, 899_999)])
def test_collar_allows_the_exact_edge_and_denies_one_unit_beyond(
    order_type: str, edge: int, beyond: int
) -> None:
    ctx = make_context()  # 10% collar around $100.0000
    rule = PriceCollarRule()
    assert (
        rule.check(make_intent(order_type=order_type, limit_price=edge, stop_price=LAST), ctx)
        is None
    )
    denial = rule.check(
        make_intent(order_type=order_type, limit_price=beyond, stop_price=LAST), ctx
    )
    assert_denied(denial, "price_collar", ReasonCode.PRICE_COLLAR)


def test_collar_ignores_market_and_stop_orders() -> None:
    rule, ctx = PriceCollarRule(), make_context()
    assert rule.check(make_intent(order_type="market", limit_price=None), ctx) is None
    assert (
        rule.check(make_intent(order_type="stop", limit_price=None, stop_price=5 * LAST), ctx)
        is None
    )


# -- max notional -----------------------------------------------------------------------------


def test_max_notional_boundary_for_a_limit_order() -> None:
    ctx = make_context(limits=limits(max_order_notional_cents=100_000))  # $1,000
    assert MaxNotionalRule().check(make_intent(qty=10, limit_price=LAST), ctx) is None
    over = make_intent(qty=10, limit_price=LAST + 1)  # $1,000.001 rounds up to $1,000.01
    assert_denied(MaxNotionalRule().check(over, ctx), "max_notional", ReasonCode.MAX_NOTIONAL)


def test_max_notional_values_a_market_order_at_last() -> None:
    ctx = make_context(limits=limits(max_order_notional_cents=100_000))
    market = make_intent(order_type="market", limit_price=None, side="sell")
    assert MaxNotionalRule().check(market, ctx) is None
    denial = MaxNotionalRule().check(
        make_intent(order_type="market", limit_price=None, qty=11), ctx
    )
    assert_denied(denial, "max_notional", ReasonCode.MAX_NOTIONAL)


# -- buying power -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "limit_price", "stop_price", "needed"),
    [
        ("limit", LAST, None, 100_000),  # 10 × $100
        ("stop_limit", LAST, 950_000, 100_000),
        ("market", None, None, 110_000),  # 10 × $100 × 1.10 collar margin
        ("stop", None, 1_050_000, 115_500),  # 10 × max($105, $100) × 1.10
        ("stop", None, 900_000, 110_000),  # stop below last: last × 1.10
    ],
)
def test_buy_needs_exactly_its_hold(
    order_type: str, limit_price: int | None, stop_price: int | None, needed: int
) -> None:
    intent = make_intent(order_type=order_type, limit_price=limit_price, stop_price=stop_price)
    assert BuyingPowerRule().check(intent, make_context(cash_available=needed)) is None
    denial = BuyingPowerRule().check(intent, make_context(cash_available=needed - 1))
    assert_denied(denial, "buying_power", ReasonCode.INSUFFICIENT_BUYING_POWER)
    assert denial is not None
    assert denial.message == (
        f"needs {format_units(needed, 2)} USD, {format_units(needed - 1, 2)} available"
    )


def test_sell_needs_the_shares() -> None:
    intent = make_intent(side="sell", qty=10)
    assert BuyingPowerRule().check(intent, make_context(shares_available=10)) is None
    denial = BuyingPowerRule().check(intent, make_context(shares_available=9))
    assert_denied(denial, "buying_power", ReasonCode.INSUFFICIENT_SHARES)


@given(
    qty=st.integers(1, 10**6),
    qty_scale=st.integers(0, 4),
    price=st.integers(1, 10**8),
)
def test_buying_power_is_boundary_exact_for_any_limit_buy(
    qty: int, qty_scale: int, price: int
) -> None:
    intent = make_intent(qty=qty, qty_scale=qty_scale, limit_price=price)
    needed = cash_needed(qty, qty_scale, price)
    assert BuyingPowerRule().check(intent, make_context(cash_available=needed)) is None
    assert BuyingPowerRule().check(intent, make_context(cash_available=needed - 1)) is not None


# -- concentration ----------------------------------------------------------------------------


def test_concentration_boundary_counts_position_and_open_buys() -> None:
    # 20% of $5,000 equity = $1,000 = 10 shares at $100, however they are split.
    ctx = make_context(equity_cents=500_000, position_qty=4, open_buy_qty=3)
    assert ConcentrationRule().check(make_intent(qty=3), ctx) is None
    denial = ConcentrationRule().check(make_intent(qty=4), ctx)
    assert_denied(denial, "concentration", ReasonCode.CONCENTRATION)


def test_concentration_is_exact_below_a_cent() -> None:
    ctx = make_context(equity_cents=500_000)
    assert ConcentrationRule().check(make_intent(qty=10), ctx) is None
    over = make_intent(qty=10, limit_price=LAST + 1)  # $0.001 over the cap
    assert_denied(ConcentrationRule().check(over, ctx), "concentration", ReasonCode.CONCENTRATION)


def test_concentration_fails_closed_on_unknown_equity_and_denies_on_no_equity() -> None:
    unknown = make_context(equity_cents=None)
    assert_denied(
        ConcentrationRule().check(make_intent(), unknown),
        "concentration",
        ReasonCode.PRICE_UNAVAILABLE,
    )
    empty = make_context(equity_cents=0)
    assert_denied(
        ConcentrationRule().check(make_intent(), empty), "concentration", ReasonCode.CONCENTRATION
    )


def test_concentration_never_stops_a_sell() -> None:
    ctx = make_context(equity_cents=None, position_qty=1_000)
    assert ConcentrationRule().check(make_intent(side="sell"), ctx) is None


# -- duplicate --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "theirs", "denied"),
    [
        ("c-1", "c-1", True),
        (None, None, True),
        ("c-1", None, True),
        (None, "c-2", True),
        ("c-1", "c-2", False),
    ],
)
def test_duplicate_within_the_window_by_client_ids(
    ours: str | None, theirs: str | None, denied: bool
) -> None:
    ctx = make_context(recent_orders=(make_recent(client_order_id=theirs),))
    denial = DuplicateOrderRule().check(make_intent(client_order_id=ours), ctx)
    if denied:
        assert_denied(denial, "duplicate", ReasonCode.DUPLICATE_ORDER)
    else:
        assert denial is None


def test_duplicate_window_edge_matches_and_one_ms_older_does_not() -> None:
    at_edge = make_context(recent_orders=(make_recent(at=NOW - 2_000 * MS),))
    assert_denied(
        DuplicateOrderRule().check(make_intent(), at_edge), "duplicate", ReasonCode.DUPLICATE_ORDER
    )
    outside = make_context(recent_orders=(make_recent(at=NOW - 2_001 * MS),))
    assert DuplicateOrderRule().check(make_intent(), outside) is None


@pytest.mark.parametrize(
    "difference",
    [
        {"symbol": "MSFT"},
        {"side": "sell"},
        {"qty": 11},
        {"limit_price": LAST + 100},
        {"stop_price": LAST},
    ],
)
def test_a_different_order_is_not_a_duplicate(difference: dict[str, Any]) -> None:
    ctx = make_context(recent_orders=(make_recent(**difference),))
    assert DuplicateOrderRule().check(make_intent(), ctx) is None


# -- throttle ---------------------------------------------------------------------------------


def test_throttle_passes_at_n_minus_one_and_denies_at_n() -> None:
    rule, capped = OrderRateRule(), limits(max_orders_per_second=3)
    two = make_context(limits=capped, recent_order_times=(NOW - 900 * MS, NOW - 10 * MS))
    assert rule.check(make_intent(), two) is None
    three = make_context(limits=capped, recent_order_times=(NOW - 999 * MS, NOW - 500 * MS, NOW))
    assert_denied(rule.check(make_intent(), three), "throttle", ReasonCode.ORDER_RATE)


def test_throttle_window_excludes_an_order_exactly_one_second_old() -> None:
    times = (NOW - 5_000 * MS, NOW - 1_000 * MS, NOW - 400 * MS, NOW - 300 * MS)
    ctx = make_context(limits=limits(max_orders_per_second=3), recent_order_times=times)
    assert OrderRateRule().check(make_intent(), ctx) is None
