"""The paper venue: orders matched against the latest quote per symbol."""

from __future__ import annotations

from agora.execution.venues.simulated.book import SimulatedBook

__all__ = ["SimulatedBook"]
