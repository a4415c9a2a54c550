"""Give the C heap's free pages back to the system after a stage with large temporaries.

A stage such as :func:`dnspcap.pair` allocates and frees hundreds of megabytes of
million-row arrays. glibc raises its mmap threshold after freeing a large block, so
later arrays of that size come from the heap, and when they are freed the pages stay
with the process: on the 2-million-packet benchmark capture 120 MB after pairing and
240 MB after grouping lookups, counted in the process's memory until reused.
``malloc_trim(0)`` hands the free pages back (a few milliseconds). Elsewhere than
glibc this does nothing.

The arrow arrays made on the way (names, list columns) come from :data:`ARROW_POOL`,
pyarrow's pool on the C heap, not its default one (mimalloc). mimalloc commits a whole
arena the first time a process needs one: on the development VM that added 100-150 ms
to the first lookups() of a process, which is every run of the command line. On the C
heap, those arrays are given back with the rest. Whatever pandas makes in the default
pool (mimalloc keeps freed pages: 30 MB after grouping lookups) is released too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from functools import cache

import pyarrow as pa

ARROW_POOL = pa.system_memory_pool()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


def give_back() -> None:
    """Return the heap's free memory to the system, where the C library can."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pa.default_memory_pool().release_unused()
