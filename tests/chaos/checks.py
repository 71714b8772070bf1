"""Checks from the outside, through the API only: what was acknowledged is there, money adds up.

``settle_and_check`` first cancels every open order of every trader and waits until none is
open (an order the crashes left stuck shows up here), then checks, per trader:

- every acknowledged order exists, as placed, in a final status that fits what was asked of it
  (a canceled order is canceled or filled, a replaced one points at its replacement);
- cash = funding + acknowledged deposits − acknowledged withdrawals − cash paid for buys
  + cash received for sells − fees, to the cent (fills from ``GET /fills``);
- nothing is held any more (every open order is gone) and buying power equals cash;
- positions equal the sum of the fills;
- and, once for the server, ``GET /admin/ledger/verify`` (holds = what open orders need).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import aiohttp

from tests.chaos.workload import CENT, SYMBOLS, Answers, Transfer, Workload
from tests.live.conftest import AgoraServer, Trader, call

FINAL = {"filled", "canceled", "replaced", "rejected", "expired"}
PLACED_FIELDS = (
    "symbol", "side", "type", "time_in_force", "qty", "limit_price", "client_order_id",
    "account_id", "replaces",
)  # fmt: skip
PAGE = 500
SETTLE_SECONDS = 20.0


async def fills_of(http: aiohttp.ClientSession, trader: Trader) -> list[dict[str, Any]]:
    """Every fill of a trader, a symbol at a time (one page each)."""
    fills: list[dict[str, Any]] = []
    for symbol in SYMBOLS:
        page = await call(http, "GET", f"/api/v1/fills?symbol={symbol}&limit={PAGE}", trader)
        assert len(page) < PAGE, f"{trader.account_id} has {PAGE}+ fills in {symbol}: page them"
        fills.extend(page)
    return fills


def expected_cash(
    funding: Decimal, transfers: Iterable[Transfer], fills: list[dict[str, Any]]
) -> Decimal:
    """Funding + acknowledged deposits − withdrawals − buys + sells − fees.

    Each order's cash is its fills' notional rounded once, half-even: the ledger rounds the
    running total, so the per-fill amounts add up to exactly that.
    """
    cash = funding
    for transfer in transfers:
        if transfer.outcome == "acked":
            cash += transfer.amount if transfer.kind == "deposit" else -transfer.amount
    notional: dict[str, Decimal] = defaultdict(Decimal)
    side: dict[str, str] = {}
    for fill in fills:
        notional[fill["order_id"]] += Decimal(fill["qty"]) * Decimal(fill["price"])
        side[fill["order_id"]] = fill["side"]
        cash -= Decimal(fill["fee"])
    for order_id, value in notional.items():
        moved = value.quantize(CENT, rounding=ROUND_HALF_EVEN)
        cash += moved if side[order_id] == "sell" else -moved
    return cash


def positions_from(fills: list[dict[str, Any]]) -> dict[str, Decimal]:
    """Net quantity per symbol from fills."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for fill in fills:
        net[fill["symbol"]] += Decimal(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
    return {symbol: qty for symbol, qty in net.items() if qty}


@dataclass(frozen=True, slots=True)
class Problem:
    """One broken promise: its kind, the account it concerns, what was seen."""

    # lost | changed | stuck | status | replace | cash | held | position | ledger | unexpected
    kind: str
    account: str | None
    text: str
    status: str | None = None  # stuck: the order's status; replace: the old order's status


async def cancel_everything(
    http: aiohttp.ClientSession, traders: list[Trader]
) -> tuple[float, dict[str, dict[str, Any]]]:
    """Cancel every open order of every trader; wait until none is open.

    Return the seconds it took and the orders still open when SETTLE_SECONDS ran out.
    """
    started = time.monotonic()
    still: dict[str, dict[str, Any]] = {}
    while time.monotonic() - started < SETTLE_SECONDS:
        still.clear()
        for trader in traders:  # again each round: a replace in flight is not cancelable yet
            await call(http, "DELETE", "/api/v1/orders", trader, expect=202)
            found = await call(http, "GET", f"/api/v1/orders?status=open&limit={PAGE}", trader)
            still.update((order["order_id"], order) for order in found)
        if not still:
            break
        await asyncio.sleep(0.5)
    return time.monotonic() - started, still


def order_problems(answers: Answers, stored: dict[str, dict[str, Any]]) -> list[Problem]:
    """Every way a stored order contradicts what its acknowledgement promised."""
    problems: list[Problem] = []
    for order_id, placed in answers.orders.items():
        account = placed["account_id"]
        found = stored.get(order_id)
        if found is None:
            problems.append(Problem("lost", account, f"acknowledged order {order_id} is lost"))
            continue
        changed = {f: (placed[f], found[f]) for f in PLACED_FIELDS if placed[f] != found[f]}
        if changed:
            problems.append(Problem("changed", account, f"{order_id} changed: {changed}"))
        problems.extend(_status_problems(found))
        if order_id in answers.cancels and found["status"] == "replaced":
            text = f"{order_id}: cancel acknowledged, yet replaced"
            problems.append(Problem("status", account, text))
    for old, new in answers.replaces.items():
        old_order, new_order = stored.get(old), stored.get(new)
        if old_order is None or new_order is None:
            continue  # reported above
        account = old_order["account_id"]
        if old_order["status"] == "replaced" and old_order["replaced_by"] != new:
            text = f"{old} replaced by {old_order['replaced_by']}, acknowledged {new}"
            problems.append(Problem("status", account, text))
        old_status = old_order["status"]
        if old_status != "replaced" and new_order["status"] not in ("rejected", "canceled"):
            text = f"{new} is {new_order['status']} but {old} was never replaced: {old_status}"
            problems.append(Problem("replace", account, text, old_status))
    for order_id, found in answers.found_unacked.items():
        problems.extend(_status_problems(stored.get(order_id) or found))
    return problems


def _status_problems(order: dict[str, Any]) -> list[Problem]:
    order_id, account = order["order_id"], order["account_id"]
    status, filled, qty = order["status"], Decimal(order["filled_qty"]), Decimal(order["qty"])
    problems = []
    if status not in FINAL:
        text = f"{order_id} is still {status} ({filled} of {qty} filled) after cancel-all"
        problems.append(Problem("stuck", account, text, status))
    if filled > qty or (status == "filled") != (filled == qty):
        text = f"{order_id}: {status} with {filled} of {qty} filled"
        problems.append(Problem("status", account, text))
    return problems


async def stored_orders(http: aiohttp.ClientSession, answers: Answers) -> dict[str, dict[str, Any]]:
    """Each order the clients know of, as the server has it now (absent when 404)."""
    found: dict[str, dict[str, Any]] = {}
    for order_id in [*answers.orders, *answers.found_unacked]:
        trader = answers.owners[order_id]
        async with http.get(f"/api/v1/orders/{order_id}", headers=trader.headers) as response:
            if response.status == 200:
                found[order_id] = await response.json()
            else:
                assert response.status == 404, await response.text()
    return found


async def money_problems(
    http: aiohttp.ClientSession, workload: Workload
) -> tuple[list[Problem], Counter[str]]:
    """Cash, holds and positions of every trader against what the answers and fills say."""
    problems: list[Problem] = []
    seen: Counter[str] = Counter()
    for client in workload.clients:
        trader = client.trader
        account_id = str(trader.account_id)
        fills = await fills_of(http, trader)
        seen["fills"] += len(fills)
        account = await call(http, "GET", "/api/v1/account", trader)
        cash = Decimal(account["cash"])
        transfers = [t for t in workload.answers.transfers if t.trader == trader]
        expected = expected_cash(workload.funded[account_id], transfers, fills)
        if cash != expected:
            text = f"cash {cash}, the answers and fills say {expected}"
            problems.append(Problem("cash", account_id, text))
        if cash < 0:
            problems.append(Problem("cash", account_id, f"negative cash {cash}"))
        if Decimal(account["cash_held"]) != 0 or Decimal(account["buying_power"]) != cash:
            text = f"holds cash after cancel-all: held {account['cash_held']}"
            problems.append(Problem("held", account_id, text))
        wanted = positions_from(fills)
        shown = await positions_settle(http, trader, wanted)
        if shown != wanted:
            text = f"positions {shown}, the fills sum to {wanted}"
            problems.append(Problem("position", account_id, text))
    return problems, seen


async def positions_settle(
    http: aiohttp.ClientSession, trader: Trader, wanted: dict[str, Decimal]
) -> dict[str, Decimal]:
    """The trader's positions once they equal ``wanted`` (the projector catches up), or at 20 s."""
    deadline = time.monotonic() + 20
    while True:
        positions = await call(http, "GET", "/api/v1/positions", trader)
        shown = {p["symbol"]: Decimal(p["qty"]) for p in positions}
        if shown == wanted or time.monotonic() > deadline:
            return shown
        await asyncio.sleep(0.1)


async def settle_and_check(
    http: aiohttp.ClientSession, server: AgoraServer, workload: Workload
) -> tuple[list[Problem], dict[str, float]]:
    """Cancel what is open, then run every outside check; return the problems and figures."""
    traders = [client.trader for client in workload.clients]
    seconds, still_open = await cancel_everything(http, traders)
    stored = await stored_orders(http, workload.answers)
    problems = order_problems(workload.answers, stored)
    known = set(stored)
    for order_id, order in still_open.items():  # e.g. a replacement whose answer was lost
        if order_id not in known:
            problems.extend(_status_problems(order))
    more, seen = await money_problems(http, workload)
    problems += more
    problems += [Problem("unexpected", None, text) for text in workload.answers.unexpected]
    verified = await call(http, "GET", "/api/v1/admin/ledger/verify", server.admin)
    if not verified["ok"]:
        broken = [c for c in verified["checks"] if not c["ok"]]
        problems.append(Problem("ledger", None, f"ledger verify: {broken}"))
    return problems, {"cancel_all_seconds": round(seconds, 2), "fills": float(seen["fills"])}
