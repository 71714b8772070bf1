"""Child process of the crash test: places and fills orders, printing every acknowledgement.

Run as ``python -m tests.integration.crash_child DATA_DIR SEED``. Each line printed is
``ack <order id> <client order id>`` and is printed only after the lane's commit.
"""

from __future__ import annotations

import asyncio
import random
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from agora.bootstrap import build_platform
from agora.config import Settings
from agora.core.errors import AgoraError
from agora.core.money import PRICE_SCALE
from agora.marketdata.cache import LastPriceCache
from agora.orders.commands import ApplyReport, Deposit, OpenAccount, PlaceOrder
from agora.orders.model import Order, OrderType, Report, ReportKind, Side, TimeInForce
from agora.risk import RiskLimits

ACCOUNTS = [f"acc_crash{n}" for n in range(8)]
LIMITS = RiskLimits(
    max_concentration_bps=1_000_000, max_orders_per_second=1_000_000, duplicate_window_ms=0
)


class FreshPrices(LastPriceCache):
    """Every symbol's price is 100.00 and always fresh."""

    def quote(self, symbol: str):  # type: ignore[no-untyped-def]
        from agora.risk import PriceQuote

        return PriceQuote(price=100 * 10**PRICE_SCALE, as_of=datetime.now().astimezone())


async def main(data_dir: Path, seed: int) -> None:
    rng = random.Random(seed)
    settings = replace(Settings(), data_dir=data_dir, risk=LIMITS)
    platform = await build_platform(settings, prices=FreshPrices())
    for account in ACCOUNTS:
        await platform.orders.execute(OpenAccount(account_id=account))
        await platform.orders.execute(Deposit(account_id=account, transfer_id="seed", amount=10**9))
    print("ready", flush=True)
    n = 0
    while True:
        batch = [_order(rng, seed, n + i) for i in range(rng.randint(1, 40))]
        n += len(batch)
        results = await asyncio.gather(
            *(platform.orders.execute(c) for c in batch), return_exceptions=True
        )
        fills = []
        for command, result in zip(batch, results, strict=True):
            if isinstance(result, Order):
                print("ack", result.order_id, command.client_order_id, flush=True)
                if rng.random() < 0.5:
                    fills.append(_fill(result, f"{command.client_order_id}-f"))
            elif not isinstance(result, AgoraError):
                raise result
        await asyncio.gather(*(platform.orders.execute(f) for f in fills))


def _order(rng: random.Random, seed: int, n: int) -> PlaceOrder:
    return PlaceOrder(
        account_id=rng.choice(ACCOUNTS),
        symbol="AAPL",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        time_in_force=TimeInForce.DAY,
        qty=rng.randint(1, 20),
        limit_price=rng.randint(95, 105) * 10**PRICE_SCALE,
        client_order_id=f"s{seed}-{n}",
    )


def _fill(order: Order, fill_id: str) -> ApplyReport:
    report = Report(
        kind=ReportKind.FILL,
        order_id=order.order_id,
        timestamp=order.created_at,
        fill_id=fill_id,
        qty=order.qty,
        price=order.limit_price or 0,
    )
    return ApplyReport(account_id=order.account_id, report=report)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
