"""Money effects of orders: holds on acceptance, postings on fills, releases at the end.

Transfer ids derive from the order and fill ids, so a retried effect is idempotent in the ledger.
A buy reserves cash (customer cash → venue), a sell reserves shares (customer shares → venue).
Fees are charged from the customer's available cash after the fill; a fee larger than that is
charged up to what is available (the rest is waived and the fill records what was charged).
"""

from __future__ import annotations

from datetime import datetime

from agora.core.events import JsonValue
from agora.core.instruments import Instrument
from agora.core.money import CASH_SCALE, PRICE_SCALE, format_units, notional_cents
from agora.ledger import Ledger, customer_cash, customer_shares, fee_income, venue_account
from agora.orders.model import Order, Report, Side
from agora.orders.ports import FillRecord
from agora.risk.reservation import cash_needed

CURRENCY = "USD"


def cash_value(qty: int, qty_scale: int, price: int) -> int:
    """Value of a quantity at a price, in cents, rounded half-even."""
    return notional_cents(qty, qty_scale, price, round_up=False)


def reserve(ledger: Ledger, order: Order, amount: int, now: datetime) -> None:
    """Reserve ``amount`` for the order (cents for a buy, shares for a sell)."""
    order.hold_amount = order.hold_posted = 0
    order.hold_id = None
    if amount <= 0:
        return
    order.hold_seq += 1
    hold_id = f"{order.order_id}:h{order.hold_seq}"
    if order.side is Side.BUY:
        debit, credit, asset = (
            customer_cash(order.account_id, CURRENCY),
            venue_account(CURRENCY),
            CURRENCY,
        )
    else:
        asset = order.symbol
        debit, credit = customer_shares(order.account_id, asset), venue_account(asset)
    ledger.reserve(
        hold_id=hold_id,
        debit=debit,
        credit=credit,
        asset=asset,
        amount=amount,
        reason="hold",
        timestamp=now,
        order_id=order.order_id,
    )
    order.hold_id = hold_id
    order.hold_amount = amount


def release(ledger: Ledger, order: Order, now: datetime) -> None:
    """Release whatever the order's hold still reserves."""
    if order.hold_id is not None and order.hold_remaining > 0:
        ledger.void_hold(transfer_id=f"{order.hold_id}:void", hold_id=order.hold_id, timestamp=now)
    order.hold_amount = order.hold_posted


def resize_replacement(ledger: Ledger, new: Order, qty: int, now: datetime) -> None:
    """Swap a replacement's provisional hold for one sized to the ``qty`` it will work."""
    release(ledger, new, now)
    if qty <= 0:
        return
    if new.side is Side.SELL:
        reserve(ledger, new, qty, now)
    else:
        assert new.reserve_price is not None
        reserve(ledger, new, cash_needed(qty, new.qty_scale, new.reserve_price), now)


def settle_fill(ledger: Ledger, order: Order, report: Report, instrument: Instrument) -> FillRecord:
    """Post an applied fill: cash and shares change hands, then the fee."""
    assert report.fill_id is not None
    assert order.hold_id is not None
    base = f"{order.order_id}:{report.fill_id}"
    cash_account = customer_cash(order.account_id, CURRENCY)
    shares_account = customer_shares(order.account_id, order.symbol)
    cash, ts = order.last_fill_cash, report.timestamp
    if order.side is Side.BUY:
        if cash > 0:
            ledger.post_hold(
                transfer_id=f"{base}:cash", hold_id=order.hold_id, amount=cash, timestamp=ts
            )
        ledger.post(
            transfer_id=f"{base}:shares",
            debit=venue_account(order.symbol),
            credit=shares_account,
            asset=order.symbol,
            amount=report.qty,
            reason="fill",
            timestamp=ts,
            order_id=order.order_id,
        )
    else:
        ledger.post_hold(
            transfer_id=f"{base}:shares", hold_id=order.hold_id, amount=report.qty, timestamp=ts
        )
        if cash > 0:
            ledger.post(
                transfer_id=f"{base}:cash",
                debit=venue_account(CURRENCY),
                credit=cash_account,
                asset=CURRENCY,
                amount=cash,
                reason="fill",
                timestamp=ts,
                order_id=order.order_id,
            )
    fee = min(report.fee_cents, max(ledger.available(cash_account), 0))
    if fee > 0:
        ledger.post(
            transfer_id=f"{base}:fee",
            debit=cash_account,
            credit=fee_income(CURRENCY),
            asset=CURRENCY,
            amount=fee,
            reason="fee",
            timestamp=ts,
            order_id=order.order_id,
        )
    return FillRecord(
        fill_id=report.fill_id,
        order_id=order.order_id,
        account_id=order.account_id,
        symbol=instrument.symbol,
        side=order.side.value,
        qty=report.qty,
        price=report.price,
        fee_cents=fee,
        cash_cents=cash,
        timestamp=ts.isoformat(),
    )


def fill_payload(fill: FillRecord, qty_scale: int) -> dict[str, JsonValue]:
    """The public shape of a fill, money as decimal strings."""
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "symbol": fill.symbol,
        "side": fill.side,
        "qty": format_units(fill.qty, qty_scale),
        "price": format_units(fill.price, PRICE_SCALE),
        "fee": format_units(fill.fee_cents, CASH_SCALE),
        "timestamp": fill.timestamp,
    }
