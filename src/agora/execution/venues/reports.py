"""Venue-side records: the order a venue works, the quote it matches against, what it reports.

Prices are ``int`` units of $0.0001 (``agora.core.money.PRICE_SCALE``); quantities are ``int`` qty
units. Report kinds are the strings of ``agora.orders.model.ReportKind``.
"""

from __future__ import annotations

from datetime import datetime

import msgspec


class VenueOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Describe one order as a venue works it."""

    order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    order_type: str  # "market" | "limit" | "stop" | "stop_limit"
    time_in_force: str  # "day" | "gtc" | "ioc" | "fok" | "opg" | "cls"
    qty: int
    limit_price: int | None = None
    stop_price: int | None = None
    # Buys without a limit: the most a fill may cost (a market buy is a marketable limit here).
    protection_price: int | None = None


class Quote(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Describe the top of the book for one symbol; its sizes are fresh liquidity."""

    symbol: str
    bid: int
    ask: int
    bid_size: int
    ask_size: int
    last: int
    timestamp: datetime


class VenueReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Report one thing a venue did to one order."""

    kind: str
    order_id: str
    timestamp: datetime
    fill_id: str | None = None
    qty: int = 0
    price: int = 0
    reason: str | None = None
    venue_order_id: str | None = None


class RestingOrder(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Show an order a venue is still working and how much of it is left."""

    order: VenueOrder
    venue_order_id: str
    remaining: int
    triggered: bool
