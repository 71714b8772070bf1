"""Object mothers: small builders of test data with sensible defaults."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from agora.core.clock import ManualClock
from agora.core.ids import SequentialIds
from agora.core.instruments import InstrumentRegistry
from agora.ledger.verify import VerifyReport, verify_ledger
from agora.marketdata.cache import LastPriceCache
from agora.orders import trading
from agora.orders.book import AccountBook
from agora.orders.commands import Deposit, OpenAccount, PlaceOrder
from agora.orders.model import Order, OrderType, Side, TimeInForce
from agora.orders.ports import PlatformControls
from agora.risk import RiskEngine, RiskLimits, default_rules

ACCOUNT = "acc_alice"
LOOSE_LIMITS = RiskLimits(
    max_concentration_bps=1_000_000,  # 10,000%: the reference models cash, not concentration
    max_orders_per_second=1_000_000,
    duplicate_window_ms=0,
    price_max_age_ms=3_600_000,
)


def price(dollars: str) -> int:
    """A price in PRICE_SCALE units from a decimal string."""
    from agora.core.money import PRICE_SCALE, parse_units

    return parse_units(dollars, PRICE_SCALE)


def usd(dollars: str) -> int:
    """Cents from a decimal string."""
    from agora.core.money import CASH_SCALE, parse_units

    return parse_units(dollars, CASH_SCALE)


class BookWorld:
    """An account book with a manual clock, a price cache and a few helpers."""

    def __init__(self, limits: RiskLimits = LOOSE_LIMITS) -> None:
        self.clock = ManualClock()
        self.prices = LastPriceCache()
        self.controls = PlatformControls(limits=limits)
        self.book = AccountBook(
            risk=RiskEngine(default_rules()),
            prices=self.prices,
            instruments=InstrumentRegistry.default(),
            ids=SequentialIds(),
            platform=self.controls,
        )
        self.transfers: list[Any] = []
        self.balances: dict[str, int] = {}
        self.pending: dict[str, int] = {}
        self.holds: dict[str, Any] = {}
        for symbol, last in (("AAPL", "200.00"), ("MSFT", "400.00"), ("SPY", "500.00")):
            self.set_price(symbol, last)

    def set_price(self, symbol: str, last: str) -> None:
        """Publish a fresh last price."""
        self.prices.update(symbol, price(last), self.clock.now())

    def tick(self, milliseconds: int = 1) -> None:
        """Move the clock forward."""
        self.clock.advance(timedelta(milliseconds=milliseconds))

    def do(self, command: Any) -> Any:
        """Apply a command now."""
        return self.book.handle(command, self.clock.now())

    def funded(self, account_id: str = ACCOUNT, cash: str = "100000.00") -> str:
        """Open an account and deposit ``cash``."""
        self.do(OpenAccount(account_id=account_id))
        self.do(Deposit(account_id=account_id, transfer_id="seed", amount=usd(cash)))
        return account_id

    def buy(self, qty: int, limit: str | None = None, **kw: Any) -> Order:
        """Place a buy (limit when ``limit`` is given, else market)."""
        return self.place(Side.BUY, qty, limit, **kw)

    def sell(self, qty: int, limit: str | None = None, **kw: Any) -> Order:
        """Place a sell (limit when ``limit`` is given, else market)."""
        return self.place(Side.SELL, qty, limit, **kw)

    def place(self, side: Side, qty: int, limit: str | None, **kw: Any) -> Order:
        """Place an order with defaults for everything not given."""
        fields: dict[str, Any] = {
            "account_id": ACCOUNT,
            "symbol": "AAPL",
            "side": side,
            "order_type": OrderType.LIMIT if limit else OrderType.MARKET,
            "time_in_force": TimeInForce.DAY,
            "qty": qty,
            "limit_price": price(limit) if limit else None,
        }
        fields.update(kw)
        order: Order = self.do(PlaceOrder(**fields))
        return order

    def verify(self) -> VerifyReport:
        """Check the ledger invariants over what the book would commit."""
        changes = self.book.take_changes()
        self.transfers.extend(changes.transfers)
        for account, (posted, pending) in changes.balance_deltas.items():
            self.balances[account] = self.balances.get(account, 0) + posted
            self.pending[account] = self.pending.get(account, 0) + pending
        for hold in changes.holds:
            self.holds[hold.hold_id] = hold
        return verify_ledger(
            transfers=self.transfers,
            balances=self.balances,
            holds=list(self.holds.values()),
            hold_needs=trading.open_order_needs(self.book),
            pending=self.pending,
        )
