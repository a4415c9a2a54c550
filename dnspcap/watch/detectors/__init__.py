"""The detectors' states over a watch (see :mod:`.base`): one per detector code."""

from __future__ import annotations

from .base import Event, State
from .race import RaceState

STATES: dict[str, type[State]] = {
    "DNS001": RaceState,
}

__all__ = ["STATES", "Event", "State"]
