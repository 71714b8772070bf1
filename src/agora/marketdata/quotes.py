"""Price updates as the simulated exchange sees them: a two-sided ``Quote`` per update."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from agora.core.instruments import InstrumentRegistry
from agora.execution.venues.reports import Quote
from agora.marketdata.records import PriceUpdate

DEFAULT_TRADE_LIQUIDITY = 100
"""Quoted size on each side of a quote made from a trade that reports no volume."""


def to_quote(
    update: PriceUpdate, *, tick_size: int, trade_liquidity: int = DEFAULT_TRADE_LIQUIDITY
) -> Quote | None:
    """Return the venue quote for ``update``, or None when it cannot make one.

    A two-sided update is passed as is; without a ``last`` its ``last`` is the mid, rounded down
    to the tick. A trade (no bid or ask) becomes a quote one tick either side of the trade price,
    sized by the trade's volume (or ``trade_liquidity`` when it has none); a trade priced at one
    tick or less has no such quote and gives None.
    """
    if update.bid is not None and update.ask is not None:
        mid = (update.bid + update.ask) // 2 // tick_size * tick_size
        last = update.last if update.last is not None else max(mid, update.bid)
        return Quote(
            symbol=update.symbol,
            bid=update.bid,
            ask=update.ask,
            bid_size=update.bid_size,
            ask_size=update.ask_size,
            last=last,
            timestamp=update.timestamp,
        )
    if update.last is None or update.last <= tick_size:
        return None
    size = update.volume or trade_liquidity
    return Quote(
        symbol=update.symbol,
        bid=update.last - tick_size,
        ask=update.last + tick_size,
        bid_size=size,
        ask_size=size,
        last=update.last,
        timestamp=update.timestamp,
    )


def quote_observer(
    on_quote: Callable[[Quote], None], instruments: InstrumentRegistry
) -> Callable[[PriceUpdate], None]:
    """Return a hub observer that hands each update to ``on_quote`` (a venue) as a Quote."""
    ticks = {instrument.symbol: instrument.tick_size for instrument in instruments.all()}

    def observe(update: PriceUpdate) -> None:
        quote = to_quote(update, tick_size=ticks.get(update.symbol, 100))
        if quote is not None:
            on_quote(quote)

    return observe


def quote_batch_observer(
    on_quote: Callable[[Quote], None], instruments: InstrumentRegistry
) -> Callable[[Sequence[PriceUpdate]], None]:
    """Return a hub batch observer that hands each update to ``on_quote`` as a Quote, in order."""
    ticks = {instrument.symbol: instrument.tick_size for instrument in instruments.all()}

    def observe_all(updates: Sequence[PriceUpdate]) -> None:
        for update in updates:
            quote = to_quote(update, tick_size=ticks.get(update.symbol, 100))
            if quote is not None:
                on_quote(quote)

    return observe_all
