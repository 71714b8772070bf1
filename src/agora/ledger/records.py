"""The ledger's frozen records: transfers, holds, and the changes a lane writes per commit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec


class TransferKind(StrEnum):
    """How a transfer moves money: at once, as a hold, or settling a hold."""

    POSTED = "posted"
    PENDING = "pending"
    POST_PENDING = "post_pending"
    VOID_PENDING = "void_pending"


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded movement of ``amount`` minor units of ``asset`` from debit to credit."""

    transfer_id: str
    kind: TransferKind
    debit_account: str
    credit_account: str
    asset: str
    amount: int
    pending_id: str | None = None
    order_id: str | None = None
    reason: str
    timestamp: datetime


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """The state of a pending transfer: how much was reserved, posted, and whether voided."""

    hold_id: str
    debit_account: str
    credit_account: str
    asset: str
    amount: int
    posted: int = 0
    voided: bool = False
    order_id: str | None = None

    @property
    def remaining(self) -> int:
        """Return what is still reserved: amount − posted, or 0 once voided."""
        return 0 if self.voided else self.amount - self.posted

    @property
    def is_open(self) -> bool:
        """Return whether the hold can still be posted or voided."""
        return not self.voided and self.posted < self.amount


class LedgerChanges(msgspec.Struct, frozen=True, kw_only=True):
    """What changed since the last ``take_changes``: to write in one transaction."""

    transfers: list[Transfer]
    balance_deltas: dict[str, tuple[int, int]]
    holds: list[Hold]
