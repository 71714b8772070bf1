"""The bus's own error: what the broker or its client failed at, translated at the edge."""

from __future__ import annotations

from agora.core.errors import AgoraError


class BusError(AgoraError):
    """Raise when the broker refused a request or could not be reached in time."""

    code = "bus_unavailable"
