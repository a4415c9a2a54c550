"""Give the C heap's free pages back to the system after a stage with large temporaries.

A stage such as :func:`dnspcap.pair` allocates and frees hundreds of megabytes of
million-row arrays. glibc raises its mmap threshold after freeing a large block, so
later arrays of that size come from the heap, and when they are freed the pages stay
with the process: on the 2-million-packet benchmark capture 120 MB after pairing and
240 MB after grouping lookups, counted in the process's memory until reused.
``malloc_trim(0)`` hands the free pages back (a few milliseconds). Elsewhere than
glibc this does nothing.

Between those calls, the command line keeps what it frees (:func:`keep_freed_pages`,
called by :func:`dnspcap.cli.exit.run`): every stage allocates and frees arrays of the
sizes the next stage asks for again, and glibc by default hands much of it back as it
goes (arrays above its mmap threshold, which starts at 128 KiB, are unmapped when
freed; the heap's top is trimmed whenever 128 KiB or more of it is free). Each page
handed back is a page fault when it is touched again: a 10M-packet capture's command
made 1.4 million of them, 4-6 s of system time. With arrays up to 32 MiB taken from
the heap and the heap trimmed only by :func:`give_back`: 25% fewer faults, the
many-clients 10M JSON report 9% faster and the default 2M one 6%, in pairs; peak
memory within 3% at 10M (+34 MiB, summed over the process tree), +7% at 2M.
A library user's process (a notebook) keeps glibc's defaults.

The arrow arrays made on the way (names, list columns) come from :data:`ARROW_POOL`,
pyarrow's pool on the C heap, not its default one (mimalloc). mimalloc commits a whole
arena the first time a process needs one: on the development VM that added 100-150 ms
to the first lookups() of a process, which is every run of the command line. On the C
heap, those arrays are given back with the rest. Whatever pandas makes in the default
pool (mimalloc keeps freed pages: 30 MB after grouping lookups) is released too.

The command line makes the C heap pyarrow's default pool as well
(:func:`arrow_on_the_heap`), for what pandas makes there: since pandas 3 every column
of texts is an arrow array, and each ``take`` or construction of one allocates from
that pool. After :func:`give_back` had released mimalloc's pages, a part's evidence
frames (30,000 rows: a take and a construction of their file names) took 60-100 ms
instead of 6. With the C heap as the default pool: the default 2M and 10M JSON reports
0.91x and 0.90x the wall time in pairs, peak memory 44 MiB and 17 MiB lower.

And numpy asks the system for huge pages for none of its arrays
(:func:`numpy_without_huge_pages`). By default it advises transparent huge pages for
every array of 4 MiB or more; where the system gives them only to memory so advised
(``/sys/kernel/mm/transparent_hugepage/enabled`` at ``madvise``, as on Debian and
Ubuntu), the page fault that first touches such an array may compact memory to find
2 MiB of it, and on the development VM that cost more than the huge pages saved: the
default 2M and 10M JSON reports took 0.85x and 0.84x the wall time without the
advice (system time 0.86 s against 1.42 s at 2M), the same reports, peak memory no
higher. Columns of the messages table advised the same way read 2x slower.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

import numpy as np
import pyarrow as pa

ARROW_POOL = pa.system_memory_pool()


# mallopt's parameters (malloc.h) and the largest mmap threshold glibc takes on 64 bits
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HEAP_UP_TO = 32 << 20  # arrays up to this size come from the heap (see the docstring)
TRIM_ABOVE = 1 << 30  # the heap's free top is left to give_back() below this


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    glibc = hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")
    return libc if glibc else None


def keep_freed_pages() -> bool:
    """Keep freed memory in the process until :func:`give_back` (see the module's
    docstring): for a process that runs one analysis and leaves, such as the command
    line, and its forked children, which inherit the setting. False where the C library
    is not glibc (nothing changed)."""
    libc = _libc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, HEAP_UP_TO)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, TRIM_ABOVE)
    )


def arrow_on_the_heap() -> bool:
    """Make :data:`ARROW_POOL` (the C heap) pyarrow's default pool (see the module's
    docstring), unless ``ARROW_DEFAULT_MEMORY_POOL`` chose one: for a process that runs
    one analysis and leaves, such as the command line. Whether it is now the default."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return bool(pa.default_memory_pool().backend_name == ARROW_POOL.backend_name)
    pa.set_memory_pool(ARROW_POOL)
    return True


def numpy_without_huge_pages() -> bool:
    """Stop numpy advising huge pages for its big arrays (see the module's docstring),
    unless ``NUMPY_MADVISE_HUGEPAGE`` chose: for a process that runs one analysis and
    leaves, such as the command line. Whether numpy now gives no such advice."""
    if os.environ.get("NUMPY_MADVISE_HUGEPAGE") is not None:
        return os.environ["NUMPY_MADVISE_HUGEPAGE"].strip() == "0"
    core = getattr(np, "_core", None) or getattr(np, "core", None)
    advise = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if advise is None:  # a numpy without the switch: nothing changed
        return False
    advise(False)
    return True


def give_back() -> None:
    """Return the heap's free memory to the system, where the C library can."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
    pool = pa.default_memory_pool()
    if pool.backend_name != ARROW_POOL.backend_name:  # the heap's: trimmed just now
        pool.release_unused()
