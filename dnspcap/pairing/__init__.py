"""Stage 2, pairing: messages to transactions (:func:`pair`, in :mod:`.transactions`), each query
with its response(s), per vantage point; then each query's sightings across DNAT and
vantage points linked and counted once (:mod:`.sightings`)."""

from .transactions import pair
from .windows import SKEW_ALLOWANCE_S

__all__ = ["SKEW_ALLOWANCE_S", "pair"]
