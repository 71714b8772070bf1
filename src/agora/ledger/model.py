"""A two-phase, double-entry ledger in memory (TigerBeetle-style), one per account lane.

Transfer ids (hold ids are the pending transfer's id) make every operation idempotent: a retry
with the same fields returns the first record and changes nothing. After ``take_changes`` only the
most recent ``RECENT_TRANSFER_LIMIT`` ids are remembered; the caller checks older retries against
the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TypeVar

import msgspec

from agora.core.errors import ConflictError, NotFoundError, ValidationError
from agora.core.money import MAX_UNITS
from agora.ledger.accounts import CUSTOMER_KINDS, parse_ledger_account
from agora.ledger.records import Hold, LedgerChanges, Transfer, TransferKind

_Value = TypeVar("_Value")

RECENT_TRANSFER_LIMIT = 50_000
"""Transfer ids (and closed holds) kept for idempotency after ``take_changes``."""


class InvalidAmountError(ValidationError):
    """Raise when a transfer amount is not a positive integer within range."""

    code = "invalid_amount"


class InvalidTransferIdError(ValidationError):
    """Raise when a transfer or hold id is empty."""

    code = "invalid_transfer_id"


class SameAccountError(ValidationError):
    """Raise when a transfer debits and credits the same account."""

    code = "same_account"


class AssetMismatchError(ValidationError):
    """Raise when a transfer's asset differs from an account's asset."""

    code = "asset_mismatch"


class InsufficientFundsError(ConflictError):
    """Raise when a debit would take a customer account's available below zero."""

    code = "insufficient_funds"


class HoldNotFoundError(NotFoundError):
    """Raise when a hold id is unknown."""

    code = "hold_not_found"


class HoldClosedError(ConflictError):
    """Raise when a hold is already voided or fully posted."""

    code = "hold_closed"


class ExceedsHoldError(ConflictError):
    """Raise when a post is larger than what remains of its hold."""

    code = "exceeds_hold"


class TransferIdConflictError(ConflictError):
    """Raise when a transfer or hold id is reused with other fields."""

    code = "transfer_id_conflict"


def _replay(existing: Transfer, kind: TransferKind, fields: tuple[object, ...]) -> Transfer:
    """Return ``existing`` if a retry repeats its fields; refuse the id's reuse otherwise."""
    if kind is TransferKind.POST_PENDING:
        recorded: tuple[object, ...] = (existing.pending_id, existing.amount, existing.reason)
    elif kind is TransferKind.VOID_PENDING:
        recorded = (existing.pending_id, existing.reason)
    else:  # debit, credit, asset, amount, pending_id, order_id, reason
        recorded = msgspec.structs.astuple(existing)[2:-1]
    if existing.kind is not kind or recorded != fields:
        raise TransferIdConflictError(f"transfer id {existing.transfer_id} was used differently")
    return existing


def _check_amount(amount: int) -> None:
    if type(amount) is not int or not 0 < amount <= MAX_UNITS:
        raise InvalidAmountError(f"amount must be a positive integer, got {amount!r}")


class Ledger:
    """Balances, holds and recent transfers of one lane's ledger accounts, in memory."""

    def __init__(self, *, recent_transfer_limit: int = RECENT_TRANSFER_LIMIT) -> None:
        self._limit = recent_transfer_limit
        self._posted: dict[str, int] = {}
        self._pending: dict[str, int] = {}
        self._meta: dict[str, tuple[str, bool]] = {}  # account -> (asset, is customer)
        self._holds: dict[str, Hold] = {}  # open holds, and any closed since take_changes
        self._closed_holds: dict[str, Hold] = {}  # the most recent closed holds
        self._closed_order: deque[str] = deque()
        self._transfers: dict[str, Transfer] = {}  # new ones, and the most recent committed
        self._transfer_order: deque[str] = deque()
        self._new_transfers: list[Transfer] = []
        self._posted_delta: dict[str, int] = {}
        self._pending_delta: dict[str, int] = {}
        self._touched: dict[str, Hold] = {}

    @classmethod
    def restore(cls, balances: Iterable[tuple[str, int]], holds: Iterable[Hold]) -> Ledger:
        """Rebuild a ledger from stored posted balances and holds (pending is recomputed)."""
        ledger = cls()
        for account, posted in balances:
            ledger._account_meta(account)
            if account in ledger._posted:
                raise ValidationError(f"balance of {account} given twice", code="duplicate_balance")
            ledger._posted[account] = posted
        for hold in holds:
            if hold.hold_id in ledger._holds or hold.hold_id in ledger._closed_holds:
                raise TransferIdConflictError(f"hold {hold.hold_id} given twice")
            ledger._check_accounts(hold.debit_account, hold.credit_account, hold.asset)
            if hold.is_open:
                ledger._holds[hold.hold_id] = hold
                debit = hold.debit_account
                ledger._pending[debit] = ledger._pending.get(debit, 0) + hold.remaining
            else:
                ledger._retire(hold)
        return ledger

    def posted(self, account: str) -> int:
        """Return credits − debits posted to ``account``."""
        return self._posted.get(account, 0)

    def pending(self, account: str) -> int:
        """Return the remaining amounts of open holds debiting ``account``."""
        return self._pending.get(account, 0)

    def available(self, account: str) -> int:
        """Return posted − pending for ``account``."""
        return self._posted.get(account, 0) - self._pending.get(account, 0)

    def hold(self, hold_id: str) -> Hold | None:
        """Return the current state of a hold, or None if unknown (or long closed)."""
        hold = self._holds.get(hold_id)
        return hold if hold is not None else self._closed_holds.get(hold_id)

    def find_transfer(self, transfer_id: str) -> Transfer | None:
        """Return a recently recorded transfer by id, or None."""
        return self._transfers.get(transfer_id)

    def accounts(self) -> Iterator[str]:
        """Yield every account with a non-zero posted or pending balance."""
        for account in dict.fromkeys([*self._posted, *self._pending]):
            if self._posted.get(account, 0) or self._pending.get(account, 0):
                yield account

    def post(
        self,
        *,
        transfer_id: str,
        debit: str,
        credit: str,
        asset: str,
        amount: int,
        reason: str,
        timestamp: datetime,
        order_id: str | None = None,
    ) -> Transfer:
        """Move ``amount`` from ``debit`` to ``credit`` at once."""
        existing = self._transfers.get(transfer_id)
        if existing is not None:
            fields = (debit, credit, asset, amount, None, order_id, reason)
            return _replay(existing, TransferKind.POSTED, fields)
        self._check_new(transfer_id, debit, credit, asset, amount)
        self._move(debit, credit, amount)
        return self._record(
            Transfer(
                transfer_id=transfer_id,
                kind=TransferKind.POSTED,
                debit_account=debit,
                credit_account=credit,
                asset=asset,
                amount=amount,
                order_id=order_id,
                reason=reason,
                timestamp=timestamp,
            )
        )

    def reserve(
        self,
        *,
        hold_id: str,
        debit: str,
        credit: str,
        asset: str,
        amount: int,
        reason: str,
        timestamp: datetime,
        order_id: str | None = None,
    ) -> Transfer:
        """Hold ``amount`` on ``debit`` for a later post to ``credit`` (a pending transfer)."""
        existing = self._transfers.get(hold_id)
        if existing is not None:
            fields = (debit, credit, asset, amount, None, order_id, reason)
            return _replay(existing, TransferKind.PENDING, fields)
        self._check_new(hold_id, debit, credit, asset, amount)
        self._holds[hold_id] = self._touched[hold_id] = Hold(
            hold_id=hold_id,
            debit_account=debit,
            credit_account=credit,
            asset=asset,
            amount=amount,
            order_id=order_id,
        )
        self._add_pending(debit, amount)
        return self._record(
            Transfer(
                transfer_id=hold_id,
                kind=TransferKind.PENDING,
                debit_account=debit,
                credit_account=credit,
                asset=asset,
                amount=amount,
                order_id=order_id,
                reason=reason,
                timestamp=timestamp,
            )
        )

    def post_hold(
        self,
        *,
        transfer_id: str,
        hold_id: str,
        amount: int,
        timestamp: datetime,
        reason: str = "fill",
    ) -> Transfer:
        """Post ``amount`` of an open hold to its credit account."""
        existing = self._transfers.get(transfer_id)
        if existing is not None:
            return _replay(existing, TransferKind.POST_PENDING, (hold_id, amount, reason))
        _check_amount(amount)
        hold = self._live_hold(transfer_id, hold_id)
        if hold is None:
            raise HoldClosedError(f"hold {hold_id} is fully posted")
        if amount > hold.amount - hold.posted:
            left = hold.amount - hold.posted
            raise ExceedsHoldError(f"post of {amount} exceeds what remains of {hold_id}: {left}")
        updated = msgspec.structs.replace(hold, posted=hold.posted + amount)
        self._holds[hold_id] = self._touched[hold_id] = updated
        self._move(hold.debit_account, hold.credit_account, amount)
        self._add_pending(hold.debit_account, -amount)
        kind = TransferKind.POST_PENDING
        return self._record(_settle(transfer_id, hold, kind, amount, reason, timestamp))

    def void_hold(
        self, *, transfer_id: str, hold_id: str, timestamp: datetime, reason: str = "release"
    ) -> Transfer | None:
        """Release what remains of a hold, once; return None when nothing remains."""
        existing = self._transfers.get(transfer_id)
        if existing is not None:
            return _replay(existing, TransferKind.VOID_PENDING, (hold_id, reason))
        hold = self._live_hold(transfer_id, hold_id)
        if hold is None:
            return None
        remaining = hold.amount - hold.posted
        self._holds[hold_id] = self._touched[hold_id] = msgspec.structs.replace(hold, voided=True)
        self._add_pending(hold.debit_account, -remaining)
        kind = TransferKind.VOID_PENDING
        return self._record(_settle(transfer_id, hold, kind, remaining, reason, timestamp))

    def take_changes(self) -> LedgerChanges:
        """Return and clear the transfers, balance deltas and hold states since the last call."""
        posted, pending = self._posted_delta, self._pending_delta
        deltas: dict[str, tuple[int, int]] = {}
        for account in dict.fromkeys([*posted, *pending]):
            delta = (posted.get(account, 0), pending.get(account, 0))
            if delta != (0, 0):
                deltas[account] = delta
        holds = list(self._touched.values())
        for hold in holds:
            if not hold.is_open:
                del self._holds[hold.hold_id]
                self._retire(hold)
        changes = LedgerChanges(transfers=self._new_transfers, balance_deltas=deltas, holds=holds)
        self._new_transfers, self._posted_delta, self._pending_delta = [], {}, {}
        self._touched = {}
        _trim(self._transfers, self._transfer_order, self._limit)
        return changes

    def _retire(self, hold: Hold) -> None:
        self._closed_holds[hold.hold_id] = hold
        self._closed_order.append(hold.hold_id)
        _trim(self._closed_holds, self._closed_order, self._limit)

    def _live_hold(self, transfer_id: str, hold_id: str) -> Hold | None:
        """Return an unvoided hold with something left, None if fully posted, else raise."""
        self._check_id(transfer_id)
        hold = self._holds.get(hold_id)
        if hold is None:
            closed = self._closed_holds.get(hold_id)
            if closed is None:
                raise HoldNotFoundError(f"hold {hold_id} not found")
            if closed.voided:
                raise HoldClosedError(f"hold {hold_id} was voided")
            return None
        if hold.voided:
            raise HoldClosedError(f"hold {hold_id} was voided")
        return hold if hold.posted < hold.amount else None

    def _check_id(self, transfer_id: str) -> None:
        if not transfer_id or type(transfer_id) is not str:
            raise InvalidTransferIdError(f"transfer id must be non-empty text: {transfer_id!r}")
        if transfer_id in self._holds or transfer_id in self._closed_holds:
            raise TransferIdConflictError(f"transfer id {transfer_id} is a hold's id")

    def _check_new(
        self, transfer_id: str, debit: str, credit: str, asset: str, amount: int
    ) -> None:
        """Validate a new posted or pending transfer; refuse an overdraft of a customer."""
        self._check_id(transfer_id)
        _check_amount(amount)
        if self._check_accounts(debit, credit, asset) and self.available(debit) < amount:
            raise InsufficientFundsError(
                f"{debit} has {self.available(debit)} available, {amount} needed"
            )

    def _check_accounts(self, debit: str, credit: str, asset: str) -> bool:
        """Check the pair and assets; return whether the debit account is a customer's."""
        if debit == credit:
            raise SameAccountError(f"transfer debits and credits {debit}")
        debit_asset, debit_is_customer = self._account_meta(debit)
        if debit_asset != asset or self._account_meta(credit)[0] != asset:
            raise AssetMismatchError(f"asset {asset!r} does not match {debit} and {credit}")
        return debit_is_customer

    def _account_meta(self, account: str) -> tuple[str, bool]:
        meta = self._meta.get(account)
        if meta is None:
            kind, _, asset = parse_ledger_account(account)
            meta = self._meta[account] = (asset, kind in CUSTOMER_KINDS)
        return meta

    def _move(self, debit: str, credit: str, amount: int) -> None:
        posted, delta = self._posted, self._posted_delta
        posted[debit] = posted.get(debit, 0) - amount
        posted[credit] = posted.get(credit, 0) + amount
        delta[debit] = delta.get(debit, 0) - amount
        delta[credit] = delta.get(credit, 0) + amount

    def _add_pending(self, account: str, amount: int) -> None:
        self._pending[account] = self._pending.get(account, 0) + amount
        self._pending_delta[account] = self._pending_delta.get(account, 0) + amount

    def _record(self, transfer: Transfer) -> Transfer:
        self._transfers[transfer.transfer_id] = transfer
        self._transfer_order.append(transfer.transfer_id)
        self._new_transfers.append(transfer)
        return transfer


def _trim(recent: dict[str, _Value], order: deque[str], limit: int) -> None:
    """Forget the oldest entries of ``recent`` beyond ``limit`` (``order`` is insertion order)."""
    while len(order) > limit:
        recent.pop(order.popleft(), None)


def _settle(
    transfer_id: str,
    hold: Hold,
    kind: TransferKind,
    amount: int,
    reason: str,
    timestamp: datetime,
) -> Transfer:
    return Transfer(
        transfer_id=transfer_id,
        kind=kind,
        debit_account=hold.debit_account,
        credit_account=hold.credit_account,
        asset=hold.asset,
        amount=amount,
        pending_id=hold.hold_id,
        order_id=hold.order_id,
        reason=reason,
        timestamp=timestamp,
    )
