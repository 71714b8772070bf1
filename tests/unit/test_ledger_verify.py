"""verify_ledger: each invariant holds on clean data and fails on hand-corrupted data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import msgspec
import pytest

from agora.ledger import (
    Hold,
    Ledger,
    Transfer,
    TransferKind,
    customer_cash,
    external_bank,
    venue_account,
    verify_ledger,
)
from agora.ledger.verify import VerifyReport

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
CASH = customer_cash("acc_1")
BANK = external_bank()
VENUE = venue_account("USD")
CHECKS = (
    "transfers_well_formed",
    "balances_match_transfers",
    "asset_sums_zero",
    "holds_match_transfers",
    "no_overdraft",
    "holds_match_open_orders",
)


class Stored(msgspec.Struct, kw_only=True):
    """What a store would hold: transfers, posted balances, holds and open orders' needs."""

    transfers: list[Transfer]
    balances: dict[str, int]
    holds: list[Hold]
    hold_needs: dict[str, int]

    def verify(self) -> VerifyReport:
        """Run verify_ledger over this data."""
        return verify_ledger(
            transfers=self.transfers,
            balances=self.balances,
            holds=self.holds,
            hold_needs=self.hold_needs,
        )


def clean() -> Stored:
    """Deposit, an order hold partly filled, a voided hold, and an open withdrawal hold."""
    ledger = Ledger()
    ledger.post(
        transfer_id="dep",
        debit=BANK,
        credit=CASH,
        asset="USD",
        amount=1_000,
        reason="deposit",
        timestamp=T0,
    )
    for hold_id, amount, order_id in (("h1", 600, "ord_1"), ("h2", 100, "ord_2"), ("w1", 50, None)):
        ledger.reserve(
            hold_id=hold_id,
            debit=CASH,
            credit=VENUE if order_id else BANK,
            asset="USD",
            amount=amount,
            reason="hold",
            timestamp=T0,
            order_id=order_id,
        )
    ledger.post_hold(transfer_id="f1", hold_id="h1", amount=200, timestamp=T0)
    ledger.void_hold(transfer_id="v2", hold_id="h2", timestamp=T0)
    changes = ledger.take_changes()
    balances = {account: ledger.posted(account) for account in ledger.accounts()}
    return Stored(
        transfers=changes.transfers,
        balances=balances,
        holds=changes.holds,
        hold_needs={"h1": 400},
    )


def failed(report: VerifyReport) -> set[str]:
    """Return the names of the checks that failed."""
    return {check.name for check in report.checks if not check.ok}


def test_clean_data_passes_every_check() -> None:
    report = clean().verify()
    assert [check.name for check in report.checks] == list(CHECKS)
    assert report.ok
    assert all(check.ok for check in report.checks)
    assert report.checks[0].detail == "all 6 transfers ok"


def test_empty_ledger_passes() -> None:
    assert verify_ledger(transfers=[], balances={}, holds=[], hold_needs={}).ok


def replace_transfer(data: Stored, target: str, **changes: object) -> None:
    """Overwrite one stored transfer's fields."""
    data.transfers = [
        msgspec.structs.replace(t, **changes) if t.transfer_id == target else t
        for t in data.transfers
    ]


def add_transfer(data: Stored, transfer_id: str, kind: TransferKind, **fields: object) -> None:
    """Append a transfer settling hold h1 (or as ``fields`` say)."""
    transfer = Transfer(
        transfer_id=transfer_id,
        kind=kind,
        debit_account=CASH,
        credit_account=VENUE,
        asset="USD",
        amount=1,
        pending_id="h1",
        reason="fill",
        timestamp=T0,
    )
    data.transfers.append(msgspec.structs.replace(transfer, **fields))


MALFORMED: dict[str, Callable[[Stored], None]] = {
    "zero amount": lambda d: replace_transfer(d, "dep", amount=0),
    "same account": lambda d: replace_transfer(d, "dep", debit_account=CASH),
    "asset mismatch": lambda d: replace_transfer(d, "dep", asset="EUR"),
    "unknown hold": lambda d: add_transfer(d, "f9", TransferKind.POST_PENDING, pending_id="nope"),
    "posted beyond hold": lambda d: add_transfer(d, "f9", TransferKind.POST_PENDING, amount=401),
    "posted after void": lambda d: add_transfer(
        d, "f9", TransferKind.POST_PENDING, pending_id="h2"
    ),
    "voided twice": lambda d: add_transfer(d, "v9", TransferKind.VOID_PENDING, pending_id="h2"),
    "void amount wrong": lambda d: replace_transfer(d, "v2", amount=99),
    "duplicate id": lambda d: add_transfer(d, "f1", TransferKind.POST_PENDING),
    "hold accounts differ": lambda d: add_transfer(
        d, "f9", TransferKind.POST_PENDING, credit_account=BANK
    ),
}


@pytest.mark.parametrize("corrupt", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_transfers_are_found(corrupt: Callable[[Stored], None]) -> None:
    data = clean()
    corrupt(data)
    report = data.verify()
    assert "transfers_well_formed" in failed(report)
    assert not report.ok
    assert report.checks[0].detail.startswith("1 of ")


def test_balances_must_match_transfers() -> None:
    data = clean()
    data.balances[CASH] += 1
    data.balances[BANK] -= 1
    report = data.verify()
    assert failed(report) == {"balances_match_transfers"}
    assert CASH in report.checks[1].detail


def test_balance_missing_from_store_counts_as_zero() -> None:
    data = clean()
    del data.balances[VENUE]
    assert "balances_match_transfers" in failed(data.verify())


def test_asset_sums_must_be_zero() -> None:
    data = clean()
    data.balances[BANK] += 5
    report = data.verify()
    assert "asset_sums_zero" in failed(report)
    assert "USD sums to 5" in report.checks[2].detail


def test_malformed_account_in_balances_fails_asset_sums() -> None:
    data = clean()
    data.balances["garbage"] = 0
    assert failed(data.verify()) == {"asset_sums_zero"}


def replace_hold(data: Stored, target: str, **changes: object) -> None:
    """Overwrite one stored hold's fields."""
    data.holds = [
        msgspec.structs.replace(h, **changes) if h.hold_id == target else h for h in data.holds
    ]


HOLD_CORRUPTIONS: dict[str, Callable[[Stored], None]] = {
    "posted differs": lambda d: replace_hold(d, "h1", posted=300),
    "voided flag differs": lambda d: replace_hold(d, "h2", voided=False, posted=100),
    "amount differs": lambda d: replace_hold(d, "w1", amount=51),
    "no pending transfer": lambda d: replace_hold(d, "w1", hold_id="w9"),
    "open hold missing": lambda d: setattr(d, "holds", [h for h in d.holds if h.hold_id != "h1"]),
}


@pytest.mark.parametrize("corrupt", HOLD_CORRUPTIONS.values(), ids=HOLD_CORRUPTIONS.keys())
def test_holds_must_match_transfers(corrupt: Callable[[Stored], None]) -> None:
    data = clean()
    corrupt(data)
    assert "holds_match_transfers" in failed(data.verify())


def test_no_customer_overdraft_counting_open_holds() -> None:
    data = clean()  # CASH: posted 800, open holds 400 + 50
    data.holds.append(
        Hold(hold_id="x", debit_account=CASH, credit_account=VENUE, asset="USD", amount=351)
    )
    report = data.verify()
    assert "no_overdraft" in failed(report)
    assert CASH in report.checks[4].detail


def test_non_customer_accounts_may_be_negative() -> None:
    data = clean()
    assert data.balances[BANK] < 0
    assert data.verify().checks[4].ok


@pytest.mark.parametrize(
    "needs",
    [{"h1": 399}, {}, {"h1": 400, "h9": 10}, {"h1": 400, "h2": 5}],
    ids=["need differs", "open hold without order", "need without hold", "need on closed hold"],
)
def test_holds_must_match_open_orders(needs: dict[str, int]) -> None:
    data = clean()
    data.hold_needs = needs
    report = data.verify()
    assert failed(report) == {"holds_match_open_orders"}


def test_holds_without_an_order_are_exempt_from_needs() -> None:
    data = clean()
    assert "w1" not in data.hold_needs
    assert data.verify().checks[5].ok


def test_detail_names_a_few_offenders_and_counts_all() -> None:
    data = clean()
    for number in range(8):
        data.balances[f"bad{number}"] = 0
    detail = data.verify().checks[2].detail
    assert detail.startswith("8 failed: bad0")
    assert detail.endswith("; …")
    assert "bad5" not in detail


def test_stored_pending_must_match_open_holds() -> None:
    data = clean()
    open_holds = {"h1": 400, "w1": 50}  # what clean() leaves reserved on the cash account
    exact = {CASH: sum(open_holds.values())}
    report = verify_ledger(
        transfers=data.transfers,
        balances=data.balances,
        holds=data.holds,
        hold_needs=data.hold_needs,
        pending=exact,
    )
    assert report.ok
    assert report.checks[0].name == "pending_matches_holds"
    drifted = verify_ledger(
        transfers=data.transfers,
        balances=data.balances,
        holds=data.holds,
        hold_needs=data.hold_needs,
        pending={CASH: 449},
    )
    assert failed(drifted) == {"pending_matches_holds"}
