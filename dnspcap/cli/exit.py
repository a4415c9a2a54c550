"""The command line as a program: its exit without the interpreter's teardown.

At exit the interpreter frees every object one by one: after a 2M-packet capture's
report, 0.06-0.13 s of the command's 2-3 s went to freeing tables the report no longer
needed. :func:`run` does what an exit must (the ``atexit`` handlers, such as a Dask
cluster's and logging's; the standard streams flushed) and leaves with ``os._exit``,
whose pages the system takes back at once. When a thread that is not a daemon is still
running, the exit waits for it as usual (``sys.exit``).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from typing import NoReturn

from ..arrays.memory import arrow_on_the_heap, keep_freed_pages, numpy_without_huge_pages
from .commands import main


def run() -> NoReturn:
    """``dnspcap`` and ``python -m dnspcap``: :func:`~dnspcap.cli.commands.main`'s
    status as the process's. What the imports made (pandas, numpy, pyarrow: hundreds of
    thousands of objects, none of them garbage) is frozen first: the garbage collector
    no longer walks it at every full collection, and a forked part's child no longer
    copies the pages it would touch doing so (2M packets: 3-4% less CPU). What a stage
    frees stays for the next until a stage gives it back
    (:func:`~dnspcap.arrays.memory.keep_freed_pages`: 25% fewer page faults), and
    pandas' arrow arrays come from the C heap, not mimalloc
    (:func:`~dnspcap.arrays.memory.arrow_on_the_heap`: 9-10% faster at 2M and 10M),
    and numpy advises no huge pages for its arrays
    (:func:`~dnspcap.arrays.memory.numpy_without_huge_pages`: 15% faster)."""
    gc.freeze()
    keep_freed_pages()
    arrow_on_the_heap()
    numpy_without_huge_pages()
    leave(main())


def leave(code: int) -> NoReturn:
    """Exit with ``code``: at once, unless a thread that is not a daemon still runs."""
    others = [t for t in threading.enumerate() if t is not threading.main_thread()]
    if any(t.is_alive() and not t.daemon for t in others):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (| head): no more
            stream.flush()
    os._exit(code)
