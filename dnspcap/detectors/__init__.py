"""The detectors, one per module; importing this package registers them all."""

from . import aaaa_first, conntrack_race, id_collision, retransmissions, search_list

__all__ = ["aaaa_first", "conntrack_race", "id_collision", "retransmissions", "search_list"]
