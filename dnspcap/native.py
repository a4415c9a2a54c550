"""The only way into dnspcap's compiled extension, ``dnspcap._kernel``.

Its C sources are in ``dnspcap/csrc/``, a folder per stage (``reading/``, ``pairing/``,
``grouping/``, and ``shared/`` for the module, the argument checks and the gathers every
stage uses); ``dnspcap/_kernel.pyi`` types its functions. Each stage takes what it needs
of it from here, so that one module knows the extension's name and checks that the
constants Python and C share are the same on both sides.
"""

from __future__ import annotations

import dnspcap._kernel as kernel

from ._kernel import (
    address_texts,
    client_parts,
    count_codes,
    decode,
    dns_rows,
    first_codes,
    gather_ranges,
    group_lookups,
    group_order,
    lookup_signs,
    lookup_sums,
    merge_ranks,
    merge_rows,
    pair_assign,
    pair_columns,
    pair_links,
    pair_stats,
    qnames,
    recode,
    rehash,
    scatter_rows,
    take_rows,
    texts,
    walk,
    window_pairs,
)


def check_constants(module: str, values: dict[str, object], names: tuple[str, ...]) -> None:
    """Fail the import if the C code was built with other values of these constants."""
    for name in names:
        if getattr(kernel, name, None) != values[name]:
            raise ImportError(
                f"dnspcap._kernel was built with {name}={getattr(kernel, name, None)!r}, "
                f"{module} says {values[name]!r}: rebuild the extension"
            )


__all__ = [
    "address_texts",
    "check_constants",
    "client_parts",
    "count_codes",
    "decode",
    "dns_rows",
    "first_codes",
    "gather_ranges",
    "group_lookups",
    "group_order",
    "kernel",
    "lookup_signs",
    "lookup_sums",
    "merge_ranks",
    "merge_rows",
    "pair_assign",
    "pair_columns",
    "pair_links",
    "pair_stats",
    "qnames",
    "recode",
    "rehash",
    "scatter_rows",
    "take_rows",
    "texts",
    "walk",
    "window_pairs",
]
