"""One frozen Settings object, read only by bootstrap and the command line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from agora.orders.lanes import LaneSettings
from agora.risk import RiskLimits


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about one Agora process."""

    data_dir: Path = Path("agora-data")
    lanes: LaneSettings = field(default_factory=LaneSettings)
    risk: RiskLimits = field(default_factory=RiskLimits)
    demo_funding_cents: int = 10_000_000  # 100,000.00 USD

    @property
    def database_path(self) -> Path:
        """The embedded SQLite database inside the data folder."""
        return self.data_dir / "agora.db"
