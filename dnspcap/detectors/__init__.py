"""The detectors, one per module; importing this package registers them all."""

from . import conntrack_race, retransmissions, search_list

__all__ = ["conntrack_race", "retransmissions", "search_list"]
