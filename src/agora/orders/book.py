"""The account book: applies commands to the in-memory state of a lane's accounts.

Synchronous and free of I/O: the lane feeds it commands one at a time and, at each group commit,
takes the changes (orders, fills, transfers, balance deltas, holds, outbox events) to write in one
transaction. A handler validates everything it can before it changes anything, so a refused
command leaves no trace except, for a risk denial, its ``order.denied`` event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agora.core.errors import ConflictError, NotFoundError, ValidationError
from agora.core.events import Event, EventType, JsonValue
from agora.core.ids import IdFactory
from agora.core.instruments import InstrumentRegistry
from agora.ledger import Ledger, Transfer, customer_cash, external_bank
from agora.orders import trading
from agora.orders.commands import (
    ApplyReport,
    CancelOrder,
    Command,
    Deposit,
    OpenAccount,
    PlaceOrder,
    ReplaceOrder,
    SetAccountControls,
    Withdraw,
)
from agora.orders.model import Order
from agora.orders.ports import (
    AccountRecord,
    FillRecord,
    LaneBatch,
    LaneSnapshot,
    PlatformControls,
    PriceSource,
)
from agora.orders.state import AccountState
from agora.orders.views import account_payload, transfer_payload
from agora.risk import RiskEngine, TradingState


class TransferResult:
    """The answer to a deposit or withdrawal."""

    __slots__ = ("cash", "transfer")

    def __init__(self, transfer: Transfer, cash: int) -> None:
        self.transfer = transfer
        self.cash = cash


class AccountBook:
    """Applies commands to the accounts of one lane and collects what to commit."""

    def __init__(
        self,
        *,
        risk: RiskEngine,
        prices: PriceSource,
        instruments: InstrumentRegistry,
        ids: IdFactory,
        platform: PlatformControls,
        ledger: Ledger | None = None,
    ) -> None:
        self.risk = risk
        self.prices = prices
        self.instruments = instruments
        self.ids = ids
        self.platform = platform
        self.ledger = ledger or Ledger()
        self.accounts: dict[str, AccountState] = {}
        self.orders: dict[str, Order] = {}
        self._closed: dict[str, None] = {}  # closed order ids, oldest first (an ordered set)
        self._dirty_orders: dict[str, Order] = {}
        self._dirty_accounts: dict[str, AccountRecord] = {}
        self._fills: list[FillRecord] = []
        self._events: list[Event] = []

    # -- commands -------------------------------------------------------------------------

    def handle(self, command: Command, now: datetime) -> Any:
        """Apply one command at time ``now`` and return its result (or raise its refusal)."""
        match command:
            case PlaceOrder():
                return trading.place(self, command, now)
            case ApplyReport():
                return trading.apply_report(self, command, now)
            case CancelOrder():
                return trading.cancel(self, command, now)
            case ReplaceOrder():
                return trading.replace(self, command, now)
            case Deposit():
                return self._deposit(command, now)
            case Withdraw():
                return self._withdraw(command, now)
            case OpenAccount():
                return self._open_account(command, now)
            case SetAccountControls():
                return self._set_controls(command, now)
        raise ValidationError(f"unknown command {type(command).__name__}")

    def _open_account(self, command: OpenAccount, now: datetime) -> AccountRecord:
        existing = self.accounts.get(command.account_id)
        if existing is not None:
            if existing.record.currency != command.currency:
                raise ConflictError("account exists with another currency", code="account_exists")
            return existing.record
        if command.currency != "USD":
            raise ValidationError("only USD accounts are supported", code="invalid_currency")
        record = AccountRecord(
            account_id=command.account_id,
            currency=command.currency,
            trading_state=TradingState.ACTIVE,
            limits=None,
        )
        self.accounts[record.account_id] = AccountState(record)
        self._dirty_accounts[record.account_id] = record
        self.emit(EventType.ACCOUNT_OPENED, record.account_id, None, account_payload(record), now)
        return record

    def _set_controls(self, command: SetAccountControls, now: datetime) -> AccountRecord:
        record = self.account(command.account_id).record
        if command.trading_state is not None:
            record.trading_state = command.trading_state
        if command.limits is not None:
            record.limits = command.limits
        self._dirty_accounts[record.account_id] = record
        self.emit(EventType.ACCOUNT_SETTINGS, record.account_id, None, account_payload(record), now)
        return record

    def _deposit(self, command: Deposit, now: datetime) -> TransferResult:
        return self._move_cash(command, now, deposit=True)

    def _withdraw(self, command: Withdraw, now: datetime) -> TransferResult:
        return self._move_cash(command, now, deposit=False)

    def _move_cash(
        self, command: Deposit | Withdraw, now: datetime, *, deposit: bool
    ) -> TransferResult:
        state = self.account(command.account_id)
        if command.amount <= 0:
            raise ValidationError("amount must be positive", code="invalid_amount")
        cash = customer_cash(state.record.account_id, state.record.currency)
        bank = external_bank(state.record.currency)
        debit, credit = (bank, cash) if deposit else (cash, bank)
        reason = "deposit" if deposit else "withdrawal"
        first = state.client_transfers.get(command.transfer_id)
        if first is not None:
            if (first.debit_account, first.credit_account, first.amount) != (
                debit,
                credit,
                command.amount,
            ):
                raise ConflictError(
                    "transfer id already used with other fields", code="transfer_id_conflict"
                )
            return TransferResult(first, self.ledger.posted(cash))
        transfer = self.ledger.post(
            transfer_id=f"{state.record.account_id}:{command.transfer_id}",
            debit=debit,
            credit=credit,
            asset=state.record.currency,
            amount=command.amount,
            reason=reason,
            timestamp=now,
        )
        state.client_transfers[command.transfer_id] = transfer
        payload = transfer_payload(transfer, command.transfer_id, self.ledger.posted(cash))
        self.emit(EventType.TRANSFER_POSTED, state.record.account_id, None, payload, now)
        return TransferResult(transfer, self.ledger.posted(cash))

    # -- helpers for the handlers -----------------------------------------------------------

    def account(self, account_id: str) -> AccountState:
        """Return an account's state or raise NotFoundError."""
        state = self.accounts.get(account_id)
        if state is None:
            raise NotFoundError(f"account {account_id} not found", code="account_not_found")
        return state

    def order_of(self, account_id: str, order_id: str) -> Order:
        """Return the account's order or raise NotFoundError (another account's id too)."""
        order = self.orders.get(order_id)
        if order is None or order.account_id != account_id:
            raise NotFoundError(f"order {order_id} not found", code="order_not_found")
        return order

    def touch(self, order: Order) -> None:
        """Mark an order as changed in this batch."""
        self.orders[order.order_id] = order
        self._dirty_orders[order.order_id] = order
        self.accounts[order.account_id].track(order)
        if order.is_final:
            self._closed[order.order_id] = None

    def record_fill(self, fill: FillRecord) -> None:
        """Add a fill to this batch."""
        self._fills.append(fill)

    def emit(
        self,
        event_type: str,
        account_id: str | None,
        correlation_id: str | None,
        payload: dict[str, JsonValue],
        now: datetime,
    ) -> Event:
        """Record an event for the outbox."""
        event = Event(
            event_id=self.ids.new("evt"),
            type=event_type,
            account_id=account_id,
            correlation_id=correlation_id,
            timestamp=now,
            payload=payload,
        )
        self._events.append(event)
        return event

    # -- persistence ------------------------------------------------------------------------

    def take_changes(self) -> LaneBatch:
        """Return and clear everything changed since the last call.

        Orders and account records in the batch are the live objects: freeze the batch
        (``LaneStore.freeze``) before the next command is applied.
        """
        ledger = self.ledger.take_changes()
        batch = LaneBatch(
            accounts=list(self._dirty_accounts.values()),
            orders=list(self._dirty_orders.values()),
            fills=self._fills,
            transfers=ledger.transfers,
            balance_deltas=ledger.balance_deltas,
            holds=ledger.holds,
            events=self._events,
        )
        self._dirty_accounts = {}
        self._dirty_orders = {}
        self._fills = []
        self._events = []
        self._evict_closed()
        return batch

    def _evict_closed(self, keep: int = 100_000) -> None:
        """Bound memory: forget the oldest closed orders (the store still has them)."""
        while len(self._closed) > keep:
            order_id = next(iter(self._closed))
            del self._closed[order_id]
            self.orders.pop(order_id, None)

    def reset(self) -> None:
        """Forget every account, order and uncommitted change."""
        self.ledger = Ledger()
        self.accounts = {}
        self.orders = {}
        self._closed = {}
        self._dirty_orders = {}
        self._dirty_accounts = {}
        self._fills = []
        self._events = []

    def restore(self, snapshot: LaneSnapshot) -> None:
        """Rebuild the state of this lane's accounts from stored records."""
        self.ledger = Ledger.restore(snapshot.balances.items(), snapshot.open_holds)
        for record in snapshot.accounts:
            self.accounts[record.account_id] = AccountState(record)
        for (account_id, client_id), order_id in snapshot.client_order_ids.items():
            self.accounts[account_id].client_order_ids[client_id] = order_id
        for transfer in snapshot.client_transfers:
            account_id, client_id = transfer.transfer_id.split(":", 1)
            self.accounts[account_id].client_transfers[client_id] = transfer
        for order in snapshot.open_orders:
            self.orders[order.order_id] = order
            self.accounts[order.account_id].track(order)
        for account in self.ledger.accounts():
            trading.note_holding(self, account)
