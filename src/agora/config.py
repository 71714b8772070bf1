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
    host: str = "127.0.0.1"
    port: int = 8000
    calendar: str = "always"  # "always" | "XNYS"
    feed: str = "synthetic"  # "synthetic" | "replay:FILE" | "none"
    seed: int = 1
    feed_rate_per_second: float = 10.0  # synthetic updates per second across the universe
    rate_limit_per_second: int = 50  # API requests per user
    paper_deposits: bool = True
    venue_latency_ms: int = 0
    release_rate_per_second: int = 1000  # orders held overnight, sent at the open at most this fast
    log_level: str = "warning"  # JSON logs on stderr; "info" adds one line per HTTP request

    @property
    def database_path(self) -> Path:
        """The embedded SQLite database inside the data folder."""
        return self.data_dir / "agora.db"

    @property
    def credentials_path(self) -> Path:
        """Where the first start writes the admin's and the demo trader's tokens."""
        return self.data_dir / "credentials.json"
