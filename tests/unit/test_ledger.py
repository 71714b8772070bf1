"""The two-phase ledger: posts, holds, refusals, idempotent retries, changes and restore."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agora.core.errors import ConflictError, NotFoundError, ValidationError
from agora.ledger import (
    RECENT_TRANSFER_LIMIT,
    AccountKind,
    AssetMismatchError,
    ExceedsHoldError,
    Hold,
    HoldClosedError,
    HoldNotFoundError,
    InsufficientFundsError,
    InvalidAmountError,
    InvalidTransferIdError,
    Ledger,
    LedgerAccountError,
    SameAccountError,
    Transfer,
    TransferIdConflictError,
    TransferKind,
    customer_cash,
    customer_shares,
    external_bank,
    fee_income,
    is_customer,
    parse_ledger_account,
    venue_account,
    verify_ledger,
)

T0 = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
CASH = customer_cash("acc_1")
OTHER = customer_cash("acc_2")
BANK = external_bank()
VENUE = venue_account("USD")


def funded(amount: int = 1_000) -> Ledger:
    """Return a ledger whose CASH account holds ``amount`` cents, with no pending changes."""
    ledger = Ledger()
    ledger.post(**move("dep", BANK, CASH, amount))
    ledger.take_changes()
    return ledger


def move(transfer_id: str, debit: str, credit: str, amount: Any, **extra: Any) -> dict[str, Any]:
    """Return ``Ledger.post`` arguments moving USD cents (a deposit at T0 unless said)."""
    fields = {"asset": "USD", "reason": "deposit", "timestamp": T0, **extra}
    return {
        "transfer_id": transfer_id,
        "debit": debit,
        "credit": credit,
        "amount": amount,
        **fields,
    }


def fill(transfer_id: str, amount: Any, hold_id: str = "h1") -> dict[str, Any]:
    """Return ``Ledger.post_hold`` arguments at T0."""
    return {"transfer_id": transfer_id, "hold_id": hold_id, "amount": amount, "timestamp": T0}


def release(transfer_id: str, hold_id: str = "h1") -> dict[str, Any]:
    """Return ``Ledger.void_hold`` arguments at T0."""
    return {"transfer_id": transfer_id, "hold_id": hold_id, "timestamp": T0}


def state(ledger: Ledger) -> dict[str, tuple[int, int]]:
    """Return every touched account's (posted, pending)."""
    accounts = [CASH, OTHER, BANK, VENUE, fee_income()]
    return {account: (ledger.posted(account), ledger.pending(account)) for account in accounts}


def reserve(ledger: Ledger, hold_id: str = "h1", amount: int = 600, **extra: Any) -> Transfer:
    """Reserve ``amount`` of CASH toward the venue for an order."""
    fields: dict[str, Any] = {"order_id": "ord_1", "timestamp": T0, **extra}
    return ledger.reserve(
        hold_id=hold_id,
        debit=CASH,
        credit=VENUE,
        asset="USD",
        amount=amount,
        reason="hold",
        **fields,
    )


def assert_refused(ledger: Ledger, error: type[Exception], call: Any, **kwargs: Any) -> None:
    """Assert ``call`` raises ``error`` and leaves balances, holds and changes untouched."""
    ledger.take_changes()  # commit what came before, so any change below would show
    before = (state(ledger), ledger.hold("h1"))
    with pytest.raises(error):
        call(**kwargs)
    assert (state(ledger), ledger.hold("h1")) == before
    changes = ledger.take_changes()
    assert changes.transfers == []
    assert changes.balance_deltas == {}


# -- account ids ---------------------------------------------------------------------------


def test_account_helpers_build_kind_owner_asset_ids() -> None:
    assert customer_cash("acc_X") == "customer_cash:acc_X:USD"
    assert customer_shares("acc_X", "AAPL") == "customer_shares:acc_X:AAPL"
    assert venue_account("AAPL") == "venue:sim:AAPL"
    assert venue_account("USD", venue="nyse") == "venue:nyse:USD"
    assert fee_income() == "fee_income:house:USD"
    assert external_bank("EUR") == "bank:external:EUR"


def test_parse_ledger_account_round_trips() -> None:
    assert parse_ledger_account(customer_shares("acc_X", "AAPL")) == (
        AccountKind.CUSTOMER_SHARES,
        "acc_X",
        "AAPL",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "customer_cash",
        "customer_cash:acc_1",
        "wallet:acc_1:USD",
        "customer_cash::USD",
        "customer_cash:acc_1:",
        "customer_cash:a:b:USD",
        "customer_cash: acc_1:USD",
    ],
)
def test_parse_ledger_account_refuses_malformed_text(text: str) -> None:
    with pytest.raises(LedgerAccountError) as caught:
        parse_ledger_account(text)
    assert isinstance(caught.value, ValidationError)
    assert caught.value.code == "invalid_ledger_account"


def test_helpers_refuse_separator_in_parts() -> None:
    with pytest.raises(LedgerAccountError):
        customer_cash("acc:1")
    with pytest.raises(LedgerAccountError):
        customer_shares("acc_1", "")


def test_only_customer_accounts_are_customer() -> None:
    assert is_customer(CASH)
    assert is_customer(customer_shares("acc_1", "AAPL"))
    assert not any(is_customer(a) for a in (BANK, VENUE, fee_income()))


# -- post ----------------------------------------------------------------------------------


def test_post_moves_amount_from_debit_to_credit() -> None:
    ledger = Ledger()
    transfer = ledger.post(**move("dep", BANK, CASH, 500))
    assert transfer.kind is TransferKind.POSTED
    assert (transfer.amount, transfer.pending_id, transfer.order_id) == (500, None, None)
    assert (ledger.posted(CASH), ledger.posted(BANK), ledger.available(CASH)) == (500, -500, 500)
    assert set(ledger.accounts()) == {CASH, BANK}
    assert ledger.find_transfer("dep") is transfer


def test_post_refuses_customer_overdraft_and_changes_nothing() -> None:
    ledger = funded(100)
    assert_refused(
        ledger,
        InsufficientFundsError,
        ledger.post,
        **move("w", CASH, BANK, 101, reason="withdrawal"),
    )
    assert ledger.find_transfer("w") is None


def test_insufficient_funds_is_a_conflict_with_stable_code() -> None:
    assert issubclass(InsufficientFundsError, ConflictError)
    assert InsufficientFundsError("x").code == "insufficient_funds"


def test_non_customer_accounts_may_go_negative() -> None:
    ledger = Ledger()
    ledger.post(**move("t", VENUE, fee_income(), 5, reason="fee"))
    assert ledger.posted(VENUE) == -5


@pytest.mark.parametrize("amount", [0, -1, True, 2**63, 1.5])
def test_post_refuses_invalid_amount(amount: Any) -> None:
    ledger = funded()
    assert_refused(ledger, InvalidAmountError, ledger.post, **move("t", BANK, CASH, amount))
    assert InvalidAmountError("x").code == "invalid_amount"


@pytest.mark.parametrize(
    ("debit", "credit", "asset", "error", "code"),
    [
        (CASH, CASH, "USD", SameAccountError, "same_account"),
        (BANK, CASH, "EUR", AssetMismatchError, "asset_mismatch"),
        (venue_account("AAPL"), CASH, "USD", AssetMismatchError, "asset_mismatch"),
        (BANK, "nonsense", "USD", LedgerAccountError, "invalid_ledger_account"),
    ],
)
def test_post_refuses_bad_account_pairs(
    debit: str, credit: str, asset: str, error: type[ValidationError], code: str
) -> None:
    ledger = funded()
    assert_refused(ledger, error, ledger.post, **move("t", debit, credit, 1, asset=asset))
    assert error("x").code == code


def test_post_refuses_empty_transfer_id() -> None:
    ledger = funded()
    assert_refused(ledger, InvalidTransferIdError, ledger.post, **move("", BANK, CASH, 1))


# -- holds ---------------------------------------------------------------------------------


def test_reserve_raises_pending_and_lowers_available() -> None:
    ledger = funded(1_000)
    reserve(ledger, amount=600)
    assert (ledger.posted(CASH), ledger.pending(CASH), ledger.available(CASH)) == (1000, 600, 400)
    hold = ledger.hold("h1")
    assert hold == Hold(
        hold_id="h1",
        debit_account=CASH,
        credit_account=VENUE,
        asset="USD",
        amount=600,
        order_id="ord_1",
    )
    assert hold is not None
    assert hold.is_open
    assert hold.remaining == 600
    assert ledger.find_transfer("h1") is not None


def test_reserve_and_post_count_pending_holds() -> None:
    ledger = funded(1_000)
    reserve(ledger, amount=600)
    assert_refused(
        ledger, InsufficientFundsError, partial(reserve, ledger), hold_id="h2", amount=401
    )
    assert_refused(
        ledger,
        InsufficientFundsError,
        ledger.post,
        **move("w", CASH, BANK, 401, reason="withdrawal"),
    )


def test_partial_posts_then_void_release_the_rest() -> None:
    ledger = funded(1_000)
    reserve(ledger, amount=600)
    first = ledger.post_hold(**fill("f1", 100))
    ledger.post_hold(**fill("f2", 200))
    assert (first.kind, first.pending_id, first.order_id) == (
        TransferKind.POST_PENDING,
        "h1",
        "ord_1",
    )
    assert (ledger.posted(CASH), ledger.pending(CASH), ledger.posted(VENUE)) == (700, 300, 300)
    void = ledger.void_hold(**release("v1"))
    assert void is not None
    assert (void.kind, void.amount) == (TransferKind.VOID_PENDING, 300)
    assert (ledger.posted(CASH), ledger.pending(CASH), ledger.available(CASH)) == (700, 0, 700)
    hold = ledger.hold("h1")
    assert hold is not None
    assert (hold.posted, hold.voided, hold.remaining) == (300, True, 0)
    assert not hold.is_open


def test_full_post_closes_the_hold_and_void_returns_none() -> None:
    ledger = funded()
    reserve(ledger, amount=600)
    ledger.post_hold(**fill("f1", 600))
    hold = ledger.hold("h1")
    assert hold is not None
    assert not hold.is_open
    assert ledger.void_hold(**release("v1")) is None
    assert ledger.find_transfer("v1") is None
    assert_refused(ledger, HoldClosedError, ledger.post_hold, **fill("f2", 1))


def test_void_happens_exactly_once() -> None:
    ledger = funded()
    reserve(ledger)
    ledger.void_hold(**release("v1"))
    ledger.take_changes()
    assert_refused(ledger, HoldClosedError, ledger.void_hold, **release("v2"))
    assert_refused(ledger, HoldClosedError, ledger.post_hold, **fill("f1", 1))
    assert HoldClosedError("x").code == "hold_closed"


def test_post_beyond_remaining_is_refused() -> None:
    ledger = funded()
    reserve(ledger, amount=600)
    ledger.post_hold(**fill("f1", 500))
    assert_refused(ledger, ExceedsHoldError, ledger.post_hold, **fill("f2", 101))
    assert issubclass(ExceedsHoldError, ConflictError)
    assert ExceedsHoldError("x").code == "exceeds_hold"


def test_unknown_hold_is_not_found() -> None:
    ledger = funded()
    assert_refused(ledger, HoldNotFoundError, ledger.post_hold, **fill("f", 1, hold_id="nope"))
    assert_refused(ledger, HoldNotFoundError, ledger.void_hold, **release("v", hold_id="nope"))
    assert issubclass(HoldNotFoundError, NotFoundError)
    assert HoldNotFoundError("x").code == "hold_not_found"


def test_closed_holds_are_remembered_after_take_changes() -> None:
    ledger = funded()
    reserve(ledger, hold_id="h1", amount=100)
    reserve(ledger, hold_id="h2", amount=100)
    ledger.post_hold(**fill("f1", 100))
    ledger.void_hold(transfer_id="v2", hold_id="h2", timestamp=T0)
    ledger.take_changes()
    assert ledger.void_hold(**release("v1")) is None
    with pytest.raises(HoldClosedError):
        ledger.void_hold(transfer_id="v3", hold_id="h2", timestamp=T0)
    hold = ledger.hold("h2")
    assert hold is not None
    assert hold.voided


# -- idempotency ---------------------------------------------------------------------------


def test_retried_post_returns_the_first_transfer_and_changes_nothing() -> None:
    ledger = funded(1_000)
    kwargs = move("w", CASH, BANK, 1_000, reason="withdrawal")
    first = ledger.post(**kwargs)
    ledger.take_changes()
    again = ledger.post(**{**kwargs, "timestamp": T0 + timedelta(seconds=5)})
    assert again is first
    assert ledger.posted(CASH) == 0
    assert ledger.take_changes().transfers == []


@pytest.mark.parametrize(
    "change",
    [{"amount": 2}, {"credit": OTHER}, {"reason": "fee"}, {"order_id": "ord_9"}, {"asset": "EUR"}],
)
def test_post_id_reused_with_other_fields_is_refused(change: dict[str, Any]) -> None:
    ledger = funded()
    kwargs = move("t", BANK, CASH, 1)
    ledger.post(**kwargs)
    ledger.take_changes()
    assert_refused(ledger, TransferIdConflictError, ledger.post, **{**kwargs, **change})
    assert TransferIdConflictError("x").code == "transfer_id_conflict"


def test_retried_reserve_returns_the_first_hold_transfer() -> None:
    ledger = funded()
    reserve(ledger, amount=600)
    first = ledger.find_transfer("h1")
    ledger.post_hold(**fill("f1", 100))
    assert reserve(ledger, amount=600, timestamp=T0 + timedelta(seconds=1)) is first
    assert ledger.pending(CASH) == 500
    assert_refused(ledger, TransferIdConflictError, partial(reserve, ledger), amount=601)
    assert_refused(ledger, TransferIdConflictError, partial(reserve, ledger), order_id="ord_2")


def test_retried_post_hold_and_void_return_the_first_record() -> None:
    ledger = funded()
    reserve(ledger, amount=600)
    first_fill = ledger.post_hold(**fill("f1", 100))
    first_void = ledger.void_hold(**release("v1"))
    ledger.take_changes()
    later = T0 + timedelta(minutes=1)
    assert (
        ledger.post_hold(transfer_id="f1", hold_id="h1", amount=100, timestamp=later) is first_fill
    )
    assert ledger.void_hold(transfer_id="v1", hold_id="h1", timestamp=later) is first_void
    assert ledger.take_changes().transfers == []
    assert_refused(ledger, TransferIdConflictError, ledger.post_hold, **fill("f1", 99))
    assert_refused(ledger, TransferIdConflictError, ledger.void_hold, **release("f1"))


def test_transfer_ids_and_hold_ids_share_one_namespace() -> None:
    ledger = funded()
    reserve(ledger)
    assert_refused(
        ledger,
        TransferIdConflictError,
        ledger.post,
        **move("h1", BANK, CASH, 600, reason="hold", order_id="ord_1"),
    )
    assert_refused(
        ledger,
        TransferIdConflictError,
        ledger.post_hold,
        **fill("h1", 1),
    )
    assert_refused(ledger, TransferIdConflictError, partial(reserve, ledger), hold_id="dep")


def test_recent_transfer_ids_are_bounded_after_take_changes() -> None:
    assert RECENT_TRANSFER_LIMIT == 50_000
    ledger = Ledger(recent_transfer_limit=2)
    for number in range(3):
        ledger.post(**move(f"t{number}", BANK, CASH, 1))
    assert all(ledger.find_transfer(f"t{n}") is not None for n in range(3))  # kept until commit
    ledger.take_changes()
    assert ledger.find_transfer("t0") is None  # the caller checks older ids against the store
    kept = ledger.find_transfer("t2")
    again = ledger.post(**move("t2", BANK, CASH, 1))
    assert again is kept
    assert ledger.posted(CASH) == 3


# -- changes and restore -------------------------------------------------------------------


def test_take_changes_returns_and_clears_what_changed() -> None:
    ledger = funded(1_000)
    reserve(ledger, amount=600)
    ledger.post_hold(**fill("f1", 100))
    reserve(ledger, hold_id="h2", amount=50)
    ledger.void_hold(transfer_id="v2", hold_id="h2", timestamp=T0)
    changes = ledger.take_changes()
    assert [t.transfer_id for t in changes.transfers] == ["h1", "f1", "h2", "v2"]
    assert changes.balance_deltas == {CASH: (-100, 500), VENUE: (100, 0)}
    assert [(h.hold_id, h.posted, h.voided) for h in changes.holds] == [
        ("h1", 100, False),
        ("h2", 0, True),
    ]
    empty = ledger.take_changes()
    assert (empty.transfers, empty.balance_deltas, empty.holds) == ([], {}, [])


def test_restore_rebuilds_balances_and_open_holds() -> None:
    ledger = funded(1_000)
    reserve(ledger, amount=600)
    ledger.post_hold(**fill("f1", 100))
    reserve(ledger, hold_id="h2", amount=50, order_id=None)
    ledger.void_hold(transfer_id="v2", hold_id="h2", timestamp=T0)
    ledger.take_changes()
    balances = [(account, ledger.posted(account)) for account in ledger.accounts()]
    holds = [hold for hold in (ledger.hold("h1"), ledger.hold("h2")) if hold is not None]
    restored = Ledger.restore(balances, holds)
    assert state(restored) == state(ledger)
    assert restored.hold("h1") == ledger.hold("h1")
    assert restored.take_changes().transfers == []
    restored.post_hold(transfer_id="f2", hold_id="h1", amount=500, timestamp=T0)
    assert (restored.posted(CASH), restored.pending(CASH)) == (400, 0)
    with pytest.raises(HoldClosedError):
        restored.void_hold(transfer_id="v3", hold_id="h2", timestamp=T0)


def test_restore_refuses_duplicates() -> None:
    with pytest.raises(ValidationError):
        Ledger.restore([(CASH, 1), (CASH, 2)], [])
    hold = Hold(hold_id="h", debit_account=CASH, credit_account=VENUE, asset="USD", amount=1)
    with pytest.raises(TransferIdConflictError):
        Ledger.restore([(CASH, 5)], [hold, hold])


# -- random operation sequences ------------------------------------------------------------

CUSTOMERS = ("acc_1", "acc_2")
ASSETS = ("USD", "AAPL")
REFUSALS = (
    InsufficientFundsError,
    ExceedsHoldError,
    HoldClosedError,
    HoldNotFoundError,
    InvalidAmountError,
)


def customer(owner: str, asset: str) -> str:
    """Return the customer's cash or shares account for ``asset``."""
    return customer_cash(owner) if asset == "USD" else customer_shares(owner, asset)


def outside(asset: str) -> str:
    """Return where ``asset`` comes from: the bank for cash, the venue for shares."""
    return external_bank() if asset == "USD" else venue_account(asset)


owner_st = st.sampled_from(CUSTOMERS)
asset_st = st.sampled_from(ASSETS)
amount_st = st.integers(min_value=-1, max_value=300)  # a few refused as invalid
hold_st = st.integers(min_value=-1, max_value=8)  # an index into the holds reserved so far
operation_st = st.one_of(
    st.tuples(st.just("deposit"), owner_st, asset_st, amount_st),
    st.tuples(st.just("deposit"), owner_st, asset_st, st.integers(1_000, 5_000)),
    st.tuples(st.just("withdraw"), owner_st, asset_st, amount_st),
    st.tuples(st.just("move"), owner_st, asset_st, amount_st),
    st.tuples(st.just("reserve"), owner_st, asset_st, amount_st, st.booleans()),
    st.tuples(st.just("post_hold"), hold_st, st.integers(min_value=-1, max_value=80)),
    st.tuples(st.just("void"), hold_st),
    st.tuples(
        st.just("retry"),
    ),
)


def call_for(
    operation: tuple[Any, ...], step: int, reserved: list[str]
) -> tuple[str, dict[str, Any]]:
    """Translate a generated operation into a Ledger method name and its arguments."""
    name, *args = operation
    ts = T0 + timedelta(seconds=step)
    if name in ("deposit", "withdraw", "move"):
        owner, asset, amount = args
        target = customer("acc_2" if owner == "acc_1" else "acc_1", asset)
        debit, credit = {
            "deposit": (outside(asset), customer(owner, asset)),
            "withdraw": (customer(owner, asset), outside(asset)),
            "move": (customer(owner, asset), target),
        }[name]
        fields = {"debit": debit, "credit": credit, "asset": asset, "amount": amount}
        return "post", {"transfer_id": f"t{step}", "reason": name, "timestamp": ts, **fields}
    if name == "reserve":
        owner, asset, amount, for_order = args
        return "reserve", {
            "hold_id": f"h{step}",
            "debit": customer(owner, asset),
            "credit": venue_account(asset),
            "asset": asset,
            "amount": amount,
            "reason": "hold",
            "timestamp": ts,
            "order_id": f"ord_{step}" if for_order else None,
        }
    hold_id = reserved[args[0] % len(reserved)] if reserved and args[0] >= 0 else "h_unknown"
    if name == "post_hold":
        return "post_hold", {
            "transfer_id": f"f{step}",
            "hold_id": hold_id,
            "amount": args[1],
            "timestamp": ts,
        }
    return "void_hold", {"transfer_id": f"v{step}", "hold_id": hold_id, "timestamp": ts}


class Store:
    """What the lane would have committed: transfers, posted balances, holds, order needs."""

    def __init__(self) -> None:
        self.transfers: list[Transfer] = []
        self.balances: dict[str, int] = {}
        self.holds: dict[str, Hold] = {}
        self.needs: dict[str, int] = {}

    def commit(self, ledger: Ledger) -> int:
        """Apply the ledger's changes; return how many transfers they held."""
        changes = ledger.take_changes()
        self.transfers += changes.transfers
        for account, (posted, _) in changes.balance_deltas.items():
            self.balances[account] = self.balances.get(account, 0) + posted
        self.holds.update((hold.hold_id, hold) for hold in changes.holds)
        for transfer in changes.transfers:  # the open orders' needs, tracked apart from holds
            self.track_need(transfer)
        return len(changes.transfers)

    def track_need(self, transfer: Transfer) -> None:
        """Follow what each open order still needs, as its order would."""
        if transfer.kind is TransferKind.PENDING and transfer.order_id is not None:
            self.needs[transfer.transfer_id] = transfer.amount
        hold_id = transfer.pending_id
        if hold_id is None or hold_id not in self.needs:
            return
        if transfer.kind is TransferKind.POST_PENDING:
            self.needs[hold_id] -= transfer.amount
        if transfer.kind is TransferKind.VOID_PENDING or self.needs[hold_id] == 0:
            del self.needs[hold_id]


def assert_invariants(ledger: Ledger, store: Store) -> None:
    """Check the ledger against its invariants and the store against verify_ledger."""
    for asset in ASSETS:
        accounts = [a for a in ledger.accounts() if parse_ledger_account(a)[2] == asset]
        assert sum(ledger.posted(a) for a in accounts) == 0
    for owner in CUSTOMERS:
        for asset in ASSETS:
            assert ledger.available(customer(owner, asset)) >= 0
    for account in ledger.accounts():
        assert ledger.posted(account) == store.balances.get(account, 0)
    report = verify_ledger(
        transfers=store.transfers,
        balances=store.balances,
        holds=store.holds.values(),
        hold_needs=store.needs,
    )
    assert report.ok, report.checks


@settings(max_examples=150, deadline=None)
@given(st.lists(operation_st, max_size=40))
def test_random_operations_keep_the_invariants(operations: list[tuple[Any, ...]]) -> None:
    ledger, store = Ledger(), Store()
    for number, (owner, asset) in enumerate((o, a) for o in CUSTOMERS for a in ASSETS):
        ledger.post(**call_for(("deposit", owner, asset, 500), -1 - number, [])[1])
    store.commit(ledger)
    last: tuple[str, dict[str, Any], Any] | None = None
    reserved: list[str] = []
    for step, operation in enumerate(operations):
        if operation[0] == "retry":
            if last is not None:
                name, kwargs, result = last
                retried = {**kwargs, "timestamp": kwargs["timestamp"] + timedelta(hours=1)}
                assert getattr(ledger, name)(**retried) is result
                assert store.commit(ledger) == 0
            continue
        name, kwargs = call_for(operation, step, reserved)
        before = {a: (ledger.posted(a), ledger.pending(a)) for a in ledger.accounts()}
        try:
            last = (name, kwargs, getattr(ledger, name)(**kwargs))
            reserved += [kwargs["hold_id"]] if name == "reserve" else []
        except REFUSALS:
            assert {a: (ledger.posted(a), ledger.pending(a)) for a in ledger.accounts()} == before
            assert store.commit(ledger) == 0
        store.commit(ledger)
        assert_invariants(ledger, store)
