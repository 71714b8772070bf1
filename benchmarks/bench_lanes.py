"""Lane throughput with group commit on SQLite: orders placed and durably committed, no venue.

Usage: python benchmarks/bench_lanes.py [--rate R | --outstanding N] [--orders N]
       [--accounts N] [--lanes N] [--data-dir DIR] [--json]
Target (issue 2): >= 10,000 orders/s placed and durably committed.
Open loop (--rate R): orders arrive at R per second whatever the answers do; the latency is
from an order's scheduled arrival to its durable answer, so falling behind shows as growing
latency. Closed loop (--rate 0): --outstanding clients each wait for their answer before the next
order (peak throughput only; it settles into lockstep with the group commit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from common import machine, peak_rss_mib, percentiles

from agora.bootstrap import Platform, build_platform
from agora.config import Settings
from agora.core.clock import SystemClock
from agora.core.errors import AgoraError, RiskDeniedError
from agora.core.instruments import InstrumentRegistry
from agora.ledger.verify import verify_ledger
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import Deposit, OpenAccount, PlaceOrder
from agora.orders.lanes import LaneSettings
from agora.orders.model import Order, OrderType, Side, TimeInForce
from agora.risk import RiskLimits
from agora.runtime import tune_gc
from agora.storage import SqliteStore

LAST = 1_000_000  # 100.00 for every symbol
LIMITS = RiskLimits(max_orders_per_second=100_000, price_max_age_ms=600_000)


def make_orders(count: int, accounts: list[str], symbols: list[str], seed: int) -> list[PlaceOrder]:
    """Limit buys spread over accounts and symbols, each with its own client id."""
    rng = random.Random(seed)
    return [
        PlaceOrder(
            account_id=rng.choice(accounts),
            symbol=rng.choice(symbols),
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.DAY,
            qty=rng.randint(1, 10),
            limit_price=LAST - rng.randint(0, 50) * 100,
            client_order_id=f"bench-{n}",
        )
        for n in range(count)
    ]


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    """Place the orders through the lanes and measure."""
    clock = SystemClock()
    prices = LastPriceCache()
    symbols = [i.symbol for i in InstrumentRegistry.default().all()]
    for symbol in symbols:
        prices.update(symbol, LAST, clock.now() + timedelta(minutes=5))
    settings = replace(
        Settings(), data_dir=data_dir, risk=LIMITS, lanes=LaneSettings(lanes=args.lanes)
    )
    platform = await build_platform(settings, clock=clock, prices=prices)
    accounts = [f"acc_b{n:05d}" for n in range(args.accounts)]
    for account in accounts:
        await platform.orders.execute(OpenAccount(account_id=account))
        await platform.orders.execute(
            Deposit(account_id=account, transfer_id="seed", amount=10**10)
        )
    orders = make_orders(args.orders, accounts, symbols, args.seed)
    tune_gc()  # as agora serve does
    latencies: list[int] = []
    accepted: list[str] = []
    denied = 0
    failed: list[str] = []
    pending = iter(orders)
    if args.rate:
        started = time.perf_counter()
        await open_loop(platform, orders, args.rate, latencies, accepted, failed)
        elapsed = time.perf_counter() - started
        denied = len(orders) - len(accepted) - len(failed)
        return await finish(
            args, platform, data_dir, orders, elapsed, latencies, accepted, failed, denied
        )

    async def worker() -> None:  # one of --outstanding clients, each waiting for its answer
        nonlocal denied
        for command in pending:
            start = time.perf_counter_ns()
            try:
                result: Order = await platform.orders.execute(command)
            except RiskDeniedError:
                denied += 1
                continue
            except AgoraError as error:  # anything but a risk denial is a failure of the run
                failed.append(f"{error.code}: {error}")
                continue
            finally:
                latencies.append(time.perf_counter_ns() - start)
            accepted.append(result.order_id)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(args.outstanding)))
    elapsed = time.perf_counter() - started
    return await finish(
        args, platform, data_dir, orders, elapsed, latencies, accepted, failed, denied
    )


async def open_loop(
    platform: Platform,
    orders: list[PlaceOrder],
    rate: int,
    latencies: list[int],
    accepted: list[str],
    failed: list[str],
) -> None:
    """Submit orders on a fixed schedule (1 ms ticks) and record when each is answered."""
    loop = asyncio.get_running_loop()
    start = time.perf_counter_ns()
    futures = []

    def answered(due: int, future: asyncio.Future[Any]) -> None:
        latencies.append(time.perf_counter_ns() - due)
        error = future.exception()
        if error is None:
            accepted.append(future.result().order_id)
        elif not isinstance(error, RiskDeniedError):
            failed.append(f"{getattr(error, 'code', type(error).__name__)}: {error}")

    for n, command in enumerate(orders):
        due = start + n * 1_000_000_000 // rate
        if (ahead := due - time.perf_counter_ns()) > 1_000_000:
            await asyncio.sleep(ahead / 1e9)
        future = platform.orders.submit(command)
        future.add_done_callback(lambda f, due=due: answered(due, f))
        futures.append(future)
    await asyncio.gather(*futures, return_exceptions=True)
    del loop


async def finish(
    args: argparse.Namespace,
    platform: Platform,
    data_dir: Path,
    orders: list[PlaceOrder],
    elapsed: float,
    latencies: list[int],
    accepted: list[str],
    failed: list[str],
    denied: int,
) -> dict[str, Any]:
    """Stop the platform, check what was stored, and build the report."""
    await platform.close()
    problems = await check(data_dir, accepted)
    if failed:
        problems.insert(0, f"{len(failed)} commands failed, e.g. {failed[0]}")
    return {
        "scenario": "lanes",
        "machine": machine(),
        "config": {k: v for k, v in vars(args).items() if k not in ("json", "data_dir")},
        "loop": f"open, {args.rate}/s" if args.rate else f"closed, {args.outstanding} outstanding",
        "elapsed_s": round(elapsed, 3),
        "orders_per_s": round(len(orders) / elapsed),
        "accepted": len(accepted),
        "denied": denied,
        "latency_us": {k: round(v, 1) for k, v in percentiles(latencies).items()},
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "target_orders_per_s": 10_000,
        "correct": not problems,
        "problems": problems,
    }


async def check(data_dir: Path, accepted: list[str]) -> list[str]:
    """Every acknowledged order is stored and the ledger verifies."""
    store = await SqliteStore.open(data_dir / "agora.db")
    try:
        problems = []
        sample = accepted[:: max(1, len(accepted) // 2_000)]
        missing = [o for o in sample if await store.get_order(o) is None]
        if missing:
            problems.append(f"{len(missing)} acknowledged orders missing, e.g. {missing[0]}")
        records = await store.ledger_records()
        if len(records.hold_needs) != len(accepted):
            problems.append(f"{len(records.hold_needs)} open holds for {len(accepted)} orders")
        report = verify_ledger(
            transfers=records.transfers,
            balances=records.balances,
            holds=records.holds,
            hold_needs=records.hold_needs,
            pending=records.pending,
        )
        problems += [f"{c.name}: {c.detail}" for c in report.checks if not c.ok]
        return problems
    finally:
        await store.close()


def main() -> int:
    """Parse arguments, run, print the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--rate", type=int, default=0, help="open-loop orders per second")
    parser.add_argument("--outstanding", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agora-bench-") as scratch:
        report = asyncio.run(run(args, args.data_dir or Path(scratch)))
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
