"""The order model: a FIX-shaped state table with ``Order.apply`` as the only mutator.

Pure: the caller hands in the time; the order records nothing outside itself.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from agora.core.errors import ConflictError
from agora.core.money import notional_cents


class Side(StrEnum):
    """Buy or sell."""

    BUY = "buy"
    SELL = "sell"


class OrderType(StrEnum):
    """How the order is priced."""

    MARKET = "market"
    LIMIT = "limit"
    STOP = "stop"
    STOP_LIMIT = "stop_limit"


class TimeInForce(StrEnum):
    """How long the order works."""

    DAY = "day"
    GTC = "gtc"
    IOC = "ioc"
    FOK = "fok"
    OPG = "opg"
    CLS = "cls"


class Status(StrEnum):
    """Order statuses (API.md)."""

    PENDING_NEW = "pending_new"
    ACCEPTED = "accepted"
    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELED = "canceled"
    PENDING_REPLACE = "pending_replace"
    REPLACED = "replaced"
    REJECTED = "rejected"
    EXPIRED = "expired"


FINAL_STATUSES = frozenset(
    {Status.FILLED, Status.CANCELED, Status.REPLACED, Status.REJECTED, Status.EXPIRED}
)
PENDING_STATUSES = frozenset({Status.PENDING_CANCEL, Status.PENDING_REPLACE})


class ReportKind(StrEnum):
    """What happened to an order: venue execution reports and the lane's own requests."""

    ACCEPTED = "accepted"  # the venue is working it
    QUEUED = "queued"  # held by Agora until the market opens
    RELEASED = "released"  # a queued order handed on towards the venue
    FILL = "fill"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    REPLACED = "replaced"
    CANCEL_REJECTED = "cancel_rejected"
    REPLACE_REJECTED = "replace_rejected"
    CANCEL_REQUESTED = "cancel_requested"
    REPLACE_REQUESTED = "replace_requested"


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    """One execution report (or lane request) for an order."""

    kind: ReportKind
    order_id: str
    timestamp: datetime
    fill_id: str | None = None
    qty: int = 0
    price: int = 0
    fee_cents: int = 0
    reason: str | None = None
    venue_order_id: str | None = None


class IllegalTransitionError(ConflictError):
    """Raise when a report is not legal in the order's current status."""

    code = "illegal_transition"


_WORKING = (Status.PENDING_NEW, Status.ACCEPTED, Status.NEW, Status.PARTIALLY_FILLED)
# Named actions (not statuses): what a report does beyond moving to a fixed target status.
_FILL = "@fill"
_VENUE_ACCEPTED = "@venue_accepted"
_RESTORE = "@restore_prior"
_VENUE_ENDINGS = {
    ReportKind.CANCELED: Status.CANCELED,
    ReportKind.REJECTED: Status.REJECTED,
    ReportKind.EXPIRED: Status.EXPIRED,
}


def _table() -> dict[tuple[Status, ReportKind], str]:
    """Build the transition table: (status, report) → target status or a named action."""
    table: dict[tuple[Status, ReportKind], str] = {}
    for status in (*_WORKING, *PENDING_STATUSES):
        table[status, ReportKind.FILL] = _FILL
        table[status, ReportKind.ACCEPTED] = _VENUE_ACCEPTED
        for kind, target in _VENUE_ENDINGS.items():
            table[status, kind] = target
    for status in _WORKING:
        table[status, ReportKind.CANCEL_REQUESTED] = Status.PENDING_CANCEL
        table[status, ReportKind.REPLACE_REQUESTED] = Status.PENDING_REPLACE
    table[Status.PENDING_NEW, ReportKind.QUEUED] = Status.ACCEPTED
    table[Status.ACCEPTED, ReportKind.RELEASED] = Status.PENDING_NEW
    table[Status.PENDING_CANCEL, ReportKind.CANCEL_REJECTED] = _RESTORE
    table[Status.PENDING_REPLACE, ReportKind.REPLACE_REJECTED] = _RESTORE
    table[Status.PENDING_REPLACE, ReportKind.REPLACED] = Status.REPLACED
    return table


TRANSITIONS = _table()
"""Every legal (status, report kind) pair; anything absent is illegal (or a duplicate)."""


@dataclass(slots=True, kw_only=True)
class Order:
    """An order and its lifecycle; quantities in qty units, prices in PRICE_SCALE units."""

    order_id: str
    account_id: str
    client_order_id: str | None
    symbol: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    qty: int
    qty_scale: int
    limit_price: int | None
    stop_price: int | None
    reserve_price: int | None
    created_at: datetime
    updated_at: datetime
    status: Status = Status.PENDING_NEW
    prior_status: Status | None = None
    filled_qty: int = 0
    filled_notional: int = 0  # Σ fill qty × price, exact (scale qty_scale + PRICE_SCALE)
    filled_cash: int = 0  # cents moved for fills so far (cumulative rounding)
    last_fill_cash: int = 0  # cents the latest fill moved
    replace_base_filled: int = 0  # for a replacement: the old order's filled qty at the request
    hold_id: str | None = None
    hold_amount: int = 0  # what the hold reserved (cents for buys, qty units for sells)
    hold_posted: int = 0  # what fills have posted from the hold
    hold_seq: int = 0
    reject_reason: str | None = None
    replaces: str | None = None
    replaced_by: str | None = None
    venue_order_id: str | None = None
    fill_ids: set[str] = field(default_factory=set)

    def snapshot(self) -> Order:
        """Return a copy that later reports to this order will not change."""
        copied = copy(self)
        copied.fill_ids = set(self.fill_ids)
        return copied

    @property
    def is_final(self) -> bool:
        """Whether the order can change no more."""
        return self.status in FINAL_STATUSES

    @property
    def leaves_qty(self) -> int:
        """Quantity still to fill."""
        return 0 if self.is_final else self.qty - self.filled_qty

    @property
    def hold_remaining(self) -> int:
        """What the order's hold still reserves."""
        return self.hold_amount - self.hold_posted

    def apply(self, report: Report) -> bool:
        """Apply one report; return False for a duplicate, raise on an illegal transition."""
        if report.order_id != self.order_id:
            raise IllegalTransitionError(f"report for {report.order_id} applied to {self.order_id}")
        if report.kind is ReportKind.FILL and report.fill_id in self.fill_ids:
            return False
        action = TRANSITIONS.get((self.status, report.kind))
        if action is None:
            if self._is_duplicate(report):
                return False
            raise IllegalTransitionError(
                f"{report.kind.value} is not legal for a {self.status.value} order"
            )
        self._act(action, report)
        self.updated_at = report.timestamp
        return True

    def _is_duplicate(self, report: Report) -> bool:
        repeats = {
            ReportKind.ACCEPTED: (Status.NEW, Status.PARTIALLY_FILLED),
            ReportKind.QUEUED: (Status.ACCEPTED,),
            ReportKind.CANCELED: (Status.CANCELED,),
            ReportKind.REJECTED: (Status.REJECTED,),
            ReportKind.EXPIRED: (Status.EXPIRED,),
            ReportKind.REPLACED: (Status.REPLACED,),
            ReportKind.CANCEL_REQUESTED: (Status.PENDING_CANCEL,),
        }
        return self.status in repeats.get(report.kind, ())

    def _act(self, action: str, report: Report) -> None:
        if action == _FILL:
            self._fill(report)
        elif action == _VENUE_ACCEPTED:
            self._accepted(report)
        elif action == _RESTORE:
            assert self.prior_status is not None
            if self.status is Status.PENDING_REPLACE:
                self.replaced_by = None
            self.status, self.prior_status = self.prior_status, None
        else:
            target = Status(action)
            if target in PENDING_STATUSES:
                self.prior_status = self.status
            elif target in FINAL_STATUSES:
                self.prior_status = None
                if target is Status.REJECTED:
                    self.reject_reason = report.reason
            self.status = target

    def _accepted(self, report: Report) -> None:
        if report.venue_order_id is not None:
            self.venue_order_id = report.venue_order_id
        if report.qty and self.replaces is not None and self.status is Status.PENDING_NEW:
            if not self.filled_qty < report.qty <= self.qty:
                raise IllegalTransitionError("a replacement can only shrink to what is left")
            self.qty = report.qty  # the replaced order filled more before the venue swapped it
        if self.status in PENDING_STATUSES:
            if self.prior_status in (Status.PENDING_NEW, Status.ACCEPTED):
                self.prior_status = Status.NEW
        elif self.status in (Status.PENDING_NEW, Status.ACCEPTED):
            self.status = Status.NEW

    def _fill(self, report: Report) -> None:
        if report.fill_id is None or report.qty <= 0 or report.price <= 0 or report.fee_cents < 0:
            raise IllegalTransitionError("a fill needs a fill id, a positive qty and price")
        if self.filled_qty + report.qty > self.qty:
            raise IllegalTransitionError(
                f"fill of {report.qty} exceeds the {self.qty - self.filled_qty} left"
            )
        reserved = self.reserve_price
        if self.side is Side.BUY and reserved is not None and report.price > reserved:
            raise IllegalTransitionError("buy fill above the order's reserved price")
        floor = self.limit_price
        if self.side is Side.SELL and floor is not None and report.price < floor:
            raise IllegalTransitionError("sell fill below the order's limit price")
        notional = self.filled_notional + report.qty * report.price
        cash = notional_cents(notional, self.qty_scale, 1, round_up=False)
        uses = cash - self.filled_cash if self.side is Side.BUY else report.qty
        if self.hold_posted + uses > self.hold_amount:
            raise IllegalTransitionError("fill exceeds what the order's hold reserved")
        self.fill_ids.add(report.fill_id)
        self.filled_qty += report.qty
        self.filled_notional = notional
        self.last_fill_cash = cash - self.filled_cash
        self.filled_cash = cash
        self.hold_posted += uses
        done = self.filled_qty == self.qty
        if self.status in PENDING_STATUSES and not done:
            self.prior_status = Status.PARTIALLY_FILLED
        else:
            self.prior_status = None
            self.status = Status.FILLED if done else Status.PARTIALLY_FILLED
