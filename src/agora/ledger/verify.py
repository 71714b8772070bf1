"""Invariant checks over stored ledger data, for tests and ``agora ledger verify`` (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import msgspec

from agora.ledger.accounts import CUSTOMER_KINDS, LedgerAccountError, parse_ledger_account
from agora.ledger.records import Hold, Transfer, TransferKind

_SHOWN = 5
"""How many offenders a failed check names in its detail."""

_MOVES_POSTED = frozenset({TransferKind.POSTED, TransferKind.POST_PENDING})


class Check(msgspec.Struct, frozen=True):
    """The outcome of one invariant: its name, whether it held, and the first offenders."""

    name: str
    ok: bool
    detail: str


class VerifyReport(msgspec.Struct, frozen=True):
    """Every check of one verification run."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """Return whether every check held."""
        return all(check.ok for check in self.checks)


def verify_ledger(
    *,
    transfers: Iterable[Transfer],
    balances: Mapping[str, int],
    holds: Iterable[Hold],
    hold_needs: Mapping[str, int],
    pending: Mapping[str, int] | None = None,
) -> VerifyReport:
    """Check stored transfers, balances and holds against the ledger's invariants.

    ``pending`` is the stored pending amount per account, when the store keeps one: it must
    equal what the open holds debiting that account still reserve.
    """
    transfers, holds = tuple(transfers), tuple(holds)
    malformed, derived = _well_formed(transfers)
    extra = (
        ()
        if pending is None
        else (_check("pending_matches_holds", _pending_offenders(pending, holds)),)
    )
    return VerifyReport(
        checks=(
            *extra,
            _check("transfers_well_formed", malformed, len(transfers), "transfers"),
            _check("balances_match_transfers", _balance_offenders(transfers, balances)),
            _check("asset_sums_zero", _asset_sum_offenders(balances)),
            _check("holds_match_transfers", _hold_offenders(holds, derived), len(holds), "holds"),
            _check("no_overdraft", _overdraft_offenders(balances, holds)),
            _check("holds_match_open_orders", _order_offenders(holds, hold_needs)),
        )
    )


def _check(name: str, offenders: list[str], checked: int | None = None, noun: str = "") -> Check:
    counted = f" of {checked} {noun}" if checked is not None else ""
    if not offenders:
        return Check(name=name, ok=True, detail=f"all {checked} {noun} ok" if counted else "ok")
    shown = "; ".join(offenders[:_SHOWN]) + ("; …" if len(offenders) > _SHOWN else "")
    return Check(name=name, ok=False, detail=f"{len(offenders)}{counted} failed: {shown}")


def _asset_of(account: str) -> str | None:
    try:
        return parse_ledger_account(account)[2]
    except LedgerAccountError:
        return None


def _is_customer(account: str) -> bool:
    try:
        return parse_ledger_account(account)[0] in CUSTOMER_KINDS
    except LedgerAccountError:
        return False


def _well_formed(transfers: tuple[Transfer, ...]) -> tuple[list[str], dict[str, Hold]]:
    """Return the malformed transfers and each hold's state as its good transfers say."""
    offenders: list[str] = []
    derived: dict[str, Hold] = {}
    seen: set[str] = set()
    for transfer in transfers:
        problem = _transfer_problem(transfer, derived, seen)
        if problem is not None:
            offenders.append(f"{transfer.transfer_id}: {problem}")
    return offenders, derived


def _transfer_problem(transfer: Transfer, derived: dict[str, Hold], seen: set[str]) -> str | None:
    if transfer.transfer_id in seen:
        return "id recorded twice"
    seen.add(transfer.transfer_id)
    if type(transfer.amount) is not int or transfer.amount <= 0:
        return f"amount {transfer.amount!r} is not positive"
    if transfer.debit_account == transfer.credit_account:
        return "debits and credits the same account"
    assets = {_asset_of(transfer.debit_account), _asset_of(transfer.credit_account)}
    if assets != {transfer.asset}:
        return f"asset {transfer.asset} does not match its accounts"
    if transfer.kind is TransferKind.PENDING:
        derived[transfer.transfer_id] = Hold(
            hold_id=transfer.transfer_id,
            debit_account=transfer.debit_account,
            credit_account=transfer.credit_account,
            asset=transfer.asset,
            amount=transfer.amount,
            order_id=transfer.order_id,
        )
        return None
    return None if transfer.kind is TransferKind.POSTED else _settle_problem(transfer, derived)


def _settle_problem(transfer: Transfer, derived: dict[str, Hold]) -> str | None:
    """Apply a post or void to its hold in ``derived``, or say why it cannot apply."""
    hold = derived.get(transfer.pending_id) if transfer.pending_id is not None else None
    if hold is None:
        return f"references unknown hold {transfer.pending_id}"
    if (transfer.debit_account, transfer.credit_account) != (
        hold.debit_account,
        hold.credit_account,
    ):
        return f"accounts differ from hold {hold.hold_id}"
    if hold.voided:
        return f"hold {hold.hold_id} was already voided"
    if transfer.kind is TransferKind.POST_PENDING:
        if transfer.amount > hold.remaining:
            return f"posts {transfer.amount} beyond hold {hold.hold_id} remaining {hold.remaining}"
        derived[hold.hold_id] = msgspec.structs.replace(hold, posted=hold.posted + transfer.amount)
        return None
    if transfer.amount != hold.remaining:
        return f"voids {transfer.amount} but hold {hold.hold_id} has {hold.remaining} remaining"
    derived[hold.hold_id] = msgspec.structs.replace(hold, voided=True)
    return None


def _balance_offenders(transfers: tuple[Transfer, ...], balances: Mapping[str, int]) -> list[str]:
    computed: dict[str, int] = {}
    for transfer in transfers:
        if transfer.kind in _MOVES_POSTED:
            debit, credit = transfer.debit_account, transfer.credit_account
            computed[debit] = computed.get(debit, 0) - transfer.amount
            computed[credit] = computed.get(credit, 0) + transfer.amount
    return [
        f"{account}: stored {balances.get(account, 0)}, transfers say {computed.get(account, 0)}"
        for account in dict.fromkeys([*computed, *balances])
        if balances.get(account, 0) != computed.get(account, 0)
    ]


def _asset_sum_offenders(balances: Mapping[str, int]) -> list[str]:
    offenders: list[str] = []
    sums: dict[str, int] = {}
    for account, balance in balances.items():
        asset = _asset_of(account)
        if asset is None:
            offenders.append(f"{account}: not a ledger account id")
        else:
            sums[asset] = sums.get(asset, 0) + balance
    return offenders + [f"{asset} sums to {total}" for asset, total in sums.items() if total]


def _hold_offenders(holds: tuple[Hold, ...], derived: Mapping[str, Hold]) -> list[str]:
    offenders: list[str] = []
    given: set[str] = set()
    for hold in holds:
        expected = derived.get(hold.hold_id)
        if hold.hold_id in given:
            offenders.append(f"{hold.hold_id}: stored twice")
        elif expected is None:
            offenders.append(f"{hold.hold_id}: no pending transfer")
        elif (hold.posted, hold.voided) != (expected.posted, expected.voided):
            offenders.append(
                f"{hold.hold_id}: stored posted {hold.posted} voided {hold.voided}, transfers say"
                f" posted {expected.posted} voided {expected.voided}"
            )
        elif hold != expected:
            offenders.append(f"{hold.hold_id}: fields differ from its pending transfer")
        given.add(hold.hold_id)
    missing = [
        hold_id for hold_id, hold in derived.items() if hold.is_open and hold_id not in given
    ]
    return offenders + [f"{hold_id}: open per transfers but not stored" for hold_id in missing]


def _open_hold_totals(holds: tuple[Hold, ...]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for hold in holds:
        if hold.is_open:
            totals[hold.debit_account] = totals.get(hold.debit_account, 0) + hold.remaining
    return totals


def _pending_offenders(stored: Mapping[str, int], holds: tuple[Hold, ...]) -> list[str]:
    expected = _open_hold_totals(holds)
    return [
        f"{account}: stored pending {stored.get(account, 0)}, holds {expected.get(account, 0)}"
        for account in sorted(set(stored) | set(expected))
        if stored.get(account, 0) != expected.get(account, 0)
    ]


def _overdraft_offenders(balances: Mapping[str, int], holds: tuple[Hold, ...]) -> list[str]:
    pending = _open_hold_totals(holds)
    return [
        f"{account}: posted {balances.get(account, 0)}, held {pending.get(account, 0)}"
        for account in dict.fromkeys([*balances, *pending])
        if _is_customer(account) and balances.get(account, 0) < pending.get(account, 0)
    ]


def _order_offenders(holds: tuple[Hold, ...], hold_needs: Mapping[str, int]) -> list[str]:
    """Compare open order holds with what their orders need (holds without an order are exempt)."""
    remaining = {hold.hold_id: hold.remaining for hold in holds}
    offenders: dict[str, str] = {}
    for hold in holds:
        need = hold_needs.get(hold.hold_id)
        if hold.order_id is not None and hold.remaining > 0 and need != hold.remaining:
            offenders[hold.hold_id] = f"{hold.hold_id}: holds {hold.remaining}, order needs {need}"
    for hold_id, need in hold_needs.items():
        if hold_id not in offenders and remaining.get(hold_id, 0) != need:
            held = remaining.get(hold_id, 0)
            offenders[hold_id] = f"{hold_id}: holds {held}, order needs {need}"
    return list(offenders.values())
