"""The venue adapter port: what the execution layer needs from any place that works orders.

A venue runs on its own thread(s), as real broker SDKs do, and reports what it did to each order
through ``VenueListener.on_report``, called on the venue's thread. Report kinds are the strings of
``agora.orders.model.ReportKind``.

Execution reports (``EXECUTION_KINDS``) describe an order's life: the first is its answer
(``accepted`` or ``rejected``), fills follow, and nothing follows a final one. ``cancel_rejected``
and ``replace_rejected`` answer a request instead; they may come after an order's final report.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from agora.core.errors import AgoraError
from agora.execution.venues.reports import VenueOrder, VenueReport

ANSWER_KINDS = frozenset({"accepted", "rejected"})
FINAL_KINDS = frozenset({"rejected", "canceled", "expired", "replaced"})
EXECUTION_KINDS = frozenset({"accepted", "fill", "canceled", "rejected", "expired", "replaced"})
REQUEST_ANSWER_KINDS = frozenset({"cancel_rejected", "replace_rejected"})


class VenueUnavailableError(AgoraError):
    """Raise when a venue is down, stopped or broken and could not take the request."""

    code = "broker_unavailable"


class VenueListener(Protocol):
    """Receive a venue's reports; called on the venue's thread, one report at a time, in order."""

    def on_report(self, report: VenueReport) -> None:
        """Take one report from the venue."""
        ...


class OrderState(msgspec.Struct, frozen=True, kw_only=True):
    """Tell what a venue did with one order, for reconciliation after an unknown outcome."""

    order_id: str
    known: bool
    open: bool
    reports: tuple[VenueReport, ...] = ()


class Venue(Protocol):
    """Work orders on the venue's own thread and report back through a listener."""

    name: str

    def start(self, listener: VenueListener) -> None:
        """Start the venue's thread(s); reports go to ``listener`` from then on."""
        ...

    def stop(self) -> None:
        """Stop the venue; no callback arrives after this returns."""
        ...

    def submit(self, order: VenueOrder) -> None:
        """Send ``order`` without waiting; the outcome arrives as reports."""
        ...

    def cancel(self, order_id: str) -> None:
        """Ask to cancel an order; the outcome arrives as reports."""
        ...

    def replace(self, order_id: str, new: VenueOrder) -> None:
        """Ask to put ``new`` in place of an order; the outcome arrives as reports."""
        ...

    def order_state(self, order_id: str) -> OrderState:
        """Return what the venue did with an order (blocking, callable from any thread)."""
        ...
