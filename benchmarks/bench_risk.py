"""Time RiskEngine(default_rules()).check() on a realistic passing order, in process.

Usage: python benchmarks/bench_risk.py [--iterations N] [--warmup N] [--json]
Target (design PERFORMANCE.md, scenario `risk`): p99 ≤ 50 µs.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from common import machine, percentiles

from agora.risk import (
    OrderIntent,
    PriceQuote,
    ReasonCode,
    RecentOrder,
    RiskContext,
    RiskEngine,
    RiskLimits,
    TradingState,
    default_rules,
)

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
LAST = 1_895_000  # $189.5000


def make_intent(**overrides: Any) -> OrderIntent:
    """Return a limit buy of 25 AAPL at last, a typical passing order."""
    fields: dict[str, Any] = {
        "account_id": "acc-bench",
        "symbol": "AAPL",
        "side": "buy",
        "order_type": "limit",
        "qty": 25,
        "qty_scale": 0,
        "limit_price": LAST,
        "stop_price": None,
        "client_order_id": "bench-0001",
    }
    fields.update(overrides)
    return OrderIntent(**fields)


def make_context() -> RiskContext:
    """Return a funded account with five recent orders and a fresh price."""
    symbols = ("MSFT", "AAPL", "NVDA", "AAPL", "SPY")
    recent = tuple(
        RecentOrder(s, "buy", 10 + i, LAST, None, f"c-{i}", NOW - timedelta(milliseconds=300 * i))
        for i, s in enumerate(symbols)
    )
    return RiskContext(
        now=NOW,
        limits=RiskLimits(restricted_symbols=frozenset({"GME", "AMC"})),
        account_state=TradingState.ACTIVE,
        platform_state=TradingState.ACTIVE,
        cash_available=25_000_000,
        shares_available=40,
        position_qty=40,
        open_buy_qty=10,
        equity_cents=50_000_000,
        last_price=PriceQuote(LAST, NOW - timedelta(milliseconds=250)),
        recent_orders=recent,
        recent_order_times=tuple(order.at for order in reversed(recent)),
    )


def measure(iterations: int, warmup: int) -> list[int]:
    """Return per-check latencies in ns after ``warmup`` untimed checks."""
    engine, intent, ctx = RiskEngine(default_rules()), make_intent(), make_context()
    check, clock = engine.check, time.perf_counter_ns
    for _ in range(warmup):
        check(intent, ctx)
    samples = [0] * iterations
    gc.collect()
    for i in range(iterations):
        start = clock()
        check(intent, ctx)
        samples[i] = clock() - start
    return samples


def verify() -> list[str]:
    """Return correctness failures: the passing order must pass; over-limit ones must deny."""
    engine, ctx, failures = RiskEngine(default_rules()), make_context(), []
    if (denial := engine.check(make_intent(), ctx)) is not None:
        failures.append(f"passing order denied: {denial}")
    cases = {
        ReasonCode.MAX_QTY: make_intent(qty=100_001),
        ReasonCode.INSUFFICIENT_BUYING_POWER: make_intent(qty=1_400),
        ReasonCode.PRICE_COLLAR: make_intent(limit_price=LAST * 2),
        ReasonCode.RESTRICTED_SYMBOL: make_intent(symbol="GME"),
    }
    for code, intent in cases.items():
        denial = engine.check(intent, ctx)
        if denial is None or denial.code is not code:
            failures.append(f"expected {code}, got {denial}")
    return failures


def main() -> int:
    """Run the benchmark, print the report and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--warmup", type=int, default=20_000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    stats = percentiles(measure(args.iterations, args.warmup))
    failures = verify()
    report = {
        "scenario": "risk",
        "machine": machine(),
        "rules": [rule.name for rule in default_rules()],
        "iterations": args.iterations,
        "warmup": args.warmup,
        "latency_us": {k: round(v, 2) for k, v in stats.items()},
        "target_p99_us": 50,
        "correct": not failures,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"machine: {report['machine']}")
        print(
            f"rules: {len(report['rules'])}  iterations: {args.iterations}  warmup: {args.warmup}"
        )
        print("latency µs: " + "  ".join(f"{k} {v:.2f}" for k, v in stats.items()))
        print(f"p99 target ≤ 50 µs: {'met' if stats['p99'] <= 50 else 'MISSED'}")
        print("correctness: " + ("ok" if not failures else "; ".join(failures)))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
