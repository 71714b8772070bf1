"""Ledger account ids: ``"{kind}:{owner}:{asset}"``, e.g. ``customer_cash:acc_X:USD``."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache

from agora.core.errors import ValidationError


class AccountKind(StrEnum):
    """What a ledger account holds and for whom."""

    CUSTOMER_CASH = "customer_cash"
    CUSTOMER_SHARES = "customer_shares"
    VENUE = "venue"
    FEE_INCOME = "fee_income"
    BANK = "bank"


CUSTOMER_KINDS = frozenset({AccountKind.CUSTOMER_CASH, AccountKind.CUSTOMER_SHARES})
"""Kinds that belong to a customer and may never go below zero."""


class LedgerAccountError(ValidationError):
    """Raise when a ledger account id is not ``kind:owner:asset``."""

    code = "invalid_ledger_account"


def _part(value: str, field: str) -> str:
    if not value or ":" in value or value != value.strip():
        raise LedgerAccountError(f"{field} must be non-empty text without ':', got {value!r}")
    return value


@lru_cache(maxsize=1 << 17)  # names are built on every order; validate each one once
def _account(kind: AccountKind, owner: str, asset: str) -> str:
    return f"{kind.value}:{_part(owner, 'owner')}:{_part(asset, 'asset')}"


def customer_cash(account_id: str, currency: str = "USD") -> str:
    """Return the ledger account of a customer's cash in ``currency``."""
    return _account(AccountKind.CUSTOMER_CASH, account_id, currency)


def customer_shares(account_id: str, symbol: str) -> str:
    """Return the ledger account of a customer's shares of ``symbol``."""
    return _account(AccountKind.CUSTOMER_SHARES, account_id, symbol)


def venue_account(asset: str, venue: str = "sim") -> str:
    """Return the clearing counterparty account of ``venue`` for ``asset``."""
    return _account(AccountKind.VENUE, venue, asset)


def fee_income(currency: str = "USD") -> str:
    """Return the house fee income account for ``currency``."""
    return _account(AccountKind.FEE_INCOME, "house", currency)


def external_bank(currency: str = "USD") -> str:
    """Return the external bank account (source of deposits) for ``currency``."""
    return _account(AccountKind.BANK, "external", currency)


def parse_ledger_account(account: str) -> tuple[AccountKind, str, str]:
    """Split a ledger account id into (kind, owner, asset)."""
    parts = account.split(":") if isinstance(account, str) else []
    if len(parts) != 3 or parts[0] not in _KIND_VALUES:
        raise LedgerAccountError(f"ledger account must be 'kind:owner:asset', got {account!r}")
    kind, owner, asset = parts
    return AccountKind(kind), _part(owner, "owner"), _part(asset, "asset")


_KIND_VALUES = frozenset(kind.value for kind in AccountKind)


def is_customer(account: str) -> bool:
    """Return whether ``account`` belongs to a customer (and so may never go below zero)."""
    return parse_ledger_account(account)[0] in CUSTOMER_KINDS
