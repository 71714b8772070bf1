"""The double-entry, two-phase ledger: accounts, transfers, holds and their invariants (pure)."""

from agora.ledger.accounts import (
    AccountKind,
    LedgerAccountError,
    customer_cash,
    customer_shares,
    external_bank,
    fee_income,
    is_customer,
    parse_ledger_account,
    venue_account,
)
from agora.ledger.model import (
    RECENT_TRANSFER_LIMIT,
    AssetMismatchError,
    ExceedsHoldError,
    HoldClosedError,
    HoldNotFoundError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidTransferIdError,
    Ledger,
    SameAccountError,
    TransferIdConflictError,
)
from agora.ledger.records import Hold, LedgerChanges, Transfer, TransferKind
from agora.ledger.verify import Check, VerifyReport, verify_ledger

__all__ = [
    "RECENT_TRANSFER_LIMIT",
    "AccountKind",
    "AssetMismatchError",
    "Check",
    "ExceedsHoldError",
    "Hold",
    "HoldClosedError",
    "HoldNotFoundError",
    "InsufficientFundsError",
    "InvalidAmountError",
    "InvalidTransferIdError",
    "Ledger",
    "LedgerAccountError",
    "LedgerChanges",
    "SameAccountError",
    "Transfer",
    "TransferIdConflictError",
    "TransferKind",
    "VerifyReport",
    "customer_cash",
    "customer_shares",
    "external_bank",
    "fee_income",
    "is_customer",
    "parse_ledger_account",
    "venue_account",
    "verify_ledger",
]
