"""Venues: the simulated paper exchange and the records every venue speaks."""

from __future__ import annotations

from agora.execution.venues.reports import Quote, RestingOrder, VenueOrder, VenueReport

__all__ = ["Quote", "RestingOrder", "VenueOrder", "VenueReport"]
