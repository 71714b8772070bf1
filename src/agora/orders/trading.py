"""Order handlers of the account book: place, cancel, replace and execution reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from agora.core.errors import (
    AgoraError,
    ConflictError,
    RiskDeniedError,
    StorageError,
    ValidationError,
)
from agora.core.events import EventType
from agora.ledger import customer_shares, parse_ledger_account
from agora.orders import settlement
from agora.orders.admission import as_recent, intent_of, risk_context, validate_shape
from agora.orders.commands import ApplyReport, CancelOrder, PlaceOrder, ReplaceOrder
from agora.orders.model import Order, Report, ReportKind, Side, Status
from agora.orders.state import AccountState
from agora.orders.views import order_payload
from agora.risk import OrderIntent
from agora.risk.reservation import cash_needed, reserve_price
from agora.risk.types import ReasonCode

if TYPE_CHECKING:
    from agora.orders.book import AccountBook

BROKER_UNAVAILABLE = "broker_unavailable"
"""The reject reason when no venue could take the order; such orders are also dead-lettered."""

_VENUE_REPORTS = frozenset(ReportKind) - {ReportKind.CANCEL_REQUESTED, ReportKind.REPLACE_REQUESTED}


def place(book: AccountBook, command: PlaceOrder, now: datetime) -> Order:
    """Place an order: idempotency, validation, risk, hold, then the order and its events."""
    state = book.account(command.account_id)
    if command.client_order_id is not None:
        first_id = state.client_order_ids.get(command.client_order_id)
        if first_id is not None:
            first = book.orders.get(first_id)  # the lane loads it from the store beforehand
            if first is None:
                raise StorageError(f"order {first_id} for that client_order_id could not be read")
            return _same_order(first, command)
    instrument = book.instruments.get(command.symbol)
    validate_shape(
        instrument,
        command.order_type,
        command.time_in_force,
        command.qty,
        command.limit_price,
        command.stop_price,
    )
    order = Order(
        order_id=book.ids.new("ord"),
        account_id=command.account_id,
        client_order_id=command.client_order_id,
        symbol=command.symbol,
        side=command.side,
        order_type=command.order_type,
        time_in_force=command.time_in_force,
        qty=command.qty,
        qty_scale=instrument.qty_scale,
        limit_price=command.limit_price,
        stop_price=command.stop_price,
        reserve_price=None,
        created_at=now,
        updated_at=now,
    )
    _admit(book, state, intent_of(order), order, now, command.correlation_id)
    if command.client_order_id is not None:
        state.client_order_ids[command.client_order_id] = order.order_id
    book.emit(
        EventType.ORDER_SUBMITTED,
        order.account_id,
        command.correlation_id,
        order_payload(order),
        now,
    )
    return order


def _same_order(first: Order, command: PlaceOrder) -> Order:
    """Return the first order for a client id, or refuse a reuse with other fields."""
    same = (
        first.symbol,
        first.side,
        first.order_type,
        first.time_in_force,
        first.limit_price,
        first.stop_price,
    ) == (
        command.symbol,
        command.side,
        command.order_type,
        command.time_in_force,
        command.limit_price,
        command.stop_price,
    ) and (first.qty == command.qty or first.replaces is not None)
    if not same:
        raise ConflictError(
            "client_order_id already used for another order", code="client_order_id_conflict"
        )
    return first


def _admit(
    book: AccountBook,
    state: AccountState,
    intent: OrderIntent,
    order: Order,
    now: datetime,
    correlation_id: str | None,
    replacing: Order | None = None,
) -> None:
    """Run the risk rules, reserve the hold and record the order; raise on denial."""
    limits = state.limits(book.platform.default_limits)
    state.forget_before(now, limits)
    quote = book.prices.quote(intent.symbol)
    context = risk_context(book, state, intent, limits, quote, now, replacing)
    denial = book.risk.check(intent, context)
    if denial is None:
        price = reserve_price(intent, quote.price if quote else None, limits.price_collar_bps)
        order.reserve_price = price if intent.side == "buy" else None
        need = _need(order, price)
        freed = replacing.hold_remaining if replacing is not None else 0
        available = context.cash_available if intent.side == "buy" else context.shares_available
        if need > available:  # the ledger's last word, should a rule ever let it through
            denial_code = (
                ReasonCode.INSUFFICIENT_BUYING_POWER
                if intent.side == "buy"
                else ReasonCode.INSUFFICIENT_SHARES
            )
            raise _deny(
                book,
                order,
                now,
                correlation_id,
                "buying_power",
                denial_code,
                "not enough available",
            )
        settlement.reserve(book.ledger, order, max(0, need - freed), now)
        order.replace_base_filled = replacing.filled_qty if replacing is not None else 0
        book.touch(order)
        state.remember(order.order_id, as_recent(intent, now))
        return
    raise _deny(book, order, now, correlation_id, denial.rule, denial.code, denial.message)


def _deny(
    book: AccountBook,
    order: Order,
    now: datetime,
    correlation_id: str | None,
    rule: str,
    code: str,
    message: str,
) -> RiskDeniedError:
    payload = order_payload(order)
    payload["status"] = Status.REJECTED.value
    payload["reject_reason"] = str(code)
    payload["rule"] = rule
    book.emit(EventType.ORDER_DENIED, order.account_id, correlation_id, payload, now)
    return RiskDeniedError(message, code=str(code), rule=rule)


def _need(order: Order, price: int | None) -> int:
    """What the order must reserve: cents for a buy, shares for a sell."""
    if order.side is Side.SELL:
        return order.qty
    assert price is not None  # price_freshness denies before a buy without a price gets here
    return cash_needed(order.qty, order.qty_scale, price)


def note_holding(book: AccountBook, ledger_account: str) -> None:
    """Track that an account holds (or held) shares of a symbol, for equity."""
    kind, owner, asset = parse_ledger_account(ledger_account)
    if kind == "customer_shares" and owner in book.accounts:
        book.accounts[owner].holdings.add(asset)


def cancel(book: AccountBook, command: CancelOrder, now: datetime) -> Order:
    """Ask for an order's cancel; an order Agora still queues is canceled at once."""
    order = book.order_of(command.account_id, command.order_id)
    if order.status is Status.PENDING_CANCEL:
        return order
    if order.is_final or order.status is Status.PENDING_REPLACE:
        raise ConflictError(f"order is {order.status.value}", code="not_cancelable")
    queued = order.status is Status.ACCEPTED
    _apply(
        book,
        order,
        Report(kind=ReportKind.CANCEL_REQUESTED, order_id=order.order_id, timestamp=now),
        now,
    )
    if queued:
        _apply(
            book,
            order,
            Report(kind=ReportKind.CANCELED, order_id=order.order_id, timestamp=now),
            now,
        )
    else:
        book.emit(
            EventType.ORDER_CANCEL_REQUESTED, order.account_id, None, order_payload(order), now
        )
    return order


def replace(book: AccountBook, command: ReplaceOrder, now: datetime) -> Order:
    """Replace a working order with a new one; the hold is re-sized when the venue confirms."""
    old = book.order_of(command.account_id, command.order_id)
    if old.is_final or old.status in (Status.PENDING_CANCEL, Status.PENDING_REPLACE):
        raise ConflictError(f"order is {old.status.value}", code="not_replaceable")
    state = book.account(command.account_id)
    if command.client_order_id is not None and command.client_order_id in state.client_order_ids:
        raise ConflictError("client_order_id already used", code="client_order_id_conflict")
    instrument = book.instruments.get(old.symbol)
    total = command.qty if command.qty is not None else old.qty
    if total <= old.filled_qty:
        raise ValidationError("qty must exceed what has already filled", code="invalid_qty")
    limit = command.limit_price if command.limit_price is not None else old.limit_price
    stop = command.stop_price if command.stop_price is not None else old.stop_price
    tif = command.time_in_force or old.time_in_force
    validate_shape(instrument, old.order_type, tif, total - old.filled_qty, limit, stop)
    new = Order(
        order_id=book.ids.new("ord"),
        account_id=old.account_id,
        client_order_id=command.client_order_id,
        symbol=old.symbol,
        side=old.side,
        order_type=old.order_type,
        time_in_force=tif,
        qty=total - old.filled_qty,
        qty_scale=old.qty_scale,
        limit_price=limit,
        stop_price=stop,
        reserve_price=None,
        created_at=now,
        updated_at=now,
        replaces=old.order_id,
    )
    _admit(book, state, intent_of(new), new, now, None, replacing=old)
    if command.client_order_id is not None:
        state.client_order_ids[command.client_order_id] = new.order_id
    _apply(
        book,
        old,
        Report(kind=ReportKind.REPLACE_REQUESTED, order_id=old.order_id, timestamp=now),
        now,
    )
    old.replaced_by = new.order_id
    payload = order_payload(new)
    payload["replaces_order"] = order_payload(old)
    book.emit(EventType.ORDER_REPLACE_REQUESTED, new.account_id, None, payload, now)
    return new


def apply_report(book: AccountBook, command: ApplyReport, now: datetime) -> Order:
    """Apply a venue's execution report, with its money effects and follow-ups."""
    report = command.report
    if report.kind not in _VENUE_REPORTS:
        raise ValidationError(
            f"{report.kind.value} is not an execution report", code="invalid_report"
        )
    order = book.order_of(command.account_id, report.order_id)
    _apply(book, order, report, now)
    return order


def _apply(book: AccountBook, order: Order, report: Report, now: datetime) -> None:
    """Apply a report to an order, settle it and emit its events."""
    was_final = order.is_final
    replacement = order.replaced_by  # a rejected replace clears it
    if not order.apply(report):
        return
    try:
        _settle(book, order, report, now, was_final)
    except AgoraError as error:  # the order already changed: a refusal now would tear the state
        raise TornStateError(
            f"settling {report.kind.value} of {order.order_id}: {error}"
        ) from error
    _follow_up(book, order, replacement, report, now)


class TornStateError(RuntimeError):
    """A step failed after the order had changed; the lane must drop the batch and reload."""


def _settle(
    book: AccountBook, order: Order, report: Report, now: datetime, was_final: bool
) -> None:
    if report.kind is ReportKind.FILL:
        fill = settlement.settle_fill(
            book.ledger, order, report, book.instruments.get(order.symbol)
        )
        book.record_fill(fill)
        note_holding(book, customer_shares(order.account_id, order.symbol))
        payload = order_payload(order)
        payload["fill"] = settlement.fill_payload(fill, order.qty_scale)
        book.emit(EventType.ORDER_FILLED, order.account_id, None, payload, now)
    if order.is_final and not was_final:
        settlement.release(book.ledger, order, now)
    book.touch(order)
    event = order_payload(order, report.kind.value)
    book.emit(EventType.ORDER_UPDATED, order.account_id, None, event, now)
    if report.kind is ReportKind.RELEASED:  # the execution engine sends it from the outbox
        submitted = order_payload(order)
        submitted["released"] = True
        book.emit(EventType.ORDER_SUBMITTED, order.account_id, None, submitted, now)
    if report.kind is ReportKind.REJECTED and report.reason == BROKER_UNAVAILABLE:
        letter = order_payload(order, report.kind.value)
        letter["reason"] = BROKER_UNAVAILABLE
        book.emit(EventType.DEAD_LETTER, order.account_id, None, letter, now)


def _follow_up(
    book: AccountBook, order: Order, new_id: str | None, report: Report, now: datetime
) -> None:
    """Carry a replace's outcome over to the replacement order."""
    if new_id is None or new_id not in book.orders:
        return
    new = book.orders[new_id]
    if new.status is not Status.PENDING_NEW:
        return
    if report.kind is ReportKind.REPLACED:
        left = new.qty - (order.filled_qty - new.replace_base_filled)
        settlement.resize_replacement(book.ledger, new, left, now)
        kind = ReportKind.ACCEPTED if left > 0 else ReportKind.CANCELED
        _apply(book, new, Report(kind=kind, order_id=new_id, timestamp=now, qty=max(left, 0)), now)
    elif report.kind is ReportKind.REPLACE_REJECTED or order.status in (
        Status.CANCELED,
        Status.EXPIRED,
        Status.REJECTED,
    ):
        reason = (
            "replace_rejected"
            if report.kind is ReportKind.REPLACE_REJECTED
            else "replaced_order_closed"
        )
        _apply(
            book,
            new,
            Report(kind=ReportKind.REJECTED, order_id=new_id, timestamp=now, reason=reason),
            now,
        )


def open_order_needs(book: AccountBook) -> dict[str, int]:
    """Map each open order's hold id to what it still needs (for ledger verify)."""
    return {
        o.hold_id: o.hold_remaining
        for state in book.accounts.values()
        for o in state.open_orders.values()
        if o.hold_id is not None and o.hold_remaining > 0
    }
