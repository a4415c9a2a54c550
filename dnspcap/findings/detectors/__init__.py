"""The detectors, one per module; importing this package registers them all."""

from . import (
    aaaa_first,
    conntrack_race,
    failed_lookups,
    forwarding_loop,
    id_collision,
    latency,
    retransmissions,
    search_list,
    server_errors,
    slow_lookups,
    truncation,
    unreachable,
)

__all__ = [
    "aaaa_first",
    "conntrack_race",
    "failed_lookups",
    "forwarding_loop",
    "id_collision",
    "latency",
    "retransmissions",
    "search_list",
    "server_errors",
    "slow_lookups",
    "truncation",
    "unreachable",
]
