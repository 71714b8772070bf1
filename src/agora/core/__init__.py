"""The pure core: money, ids, clocks, events and errors (standard library and msgspec only)."""
