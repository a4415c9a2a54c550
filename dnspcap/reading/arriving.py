"""Reading a capture whose bytes are still arriving: a pipe from tcpdump, a file still
being written (``dnspcap watch``).

The reader of :mod:`dnspcap.reading.read` decodes a stream as it reads it; a stream with
``live = True`` makes it decode what came instead of waiting to fill its buffer, so a
record cut at the current end waits for its next bytes as it would at a buffer's end.
:func:`read_arriving` hands the rows over as they are decoded, in chunks, and also while
the stream waits for more bytes (the stream calls its ``on_idle`` hook then): rows never
wait for the next packet to be seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from .accumulator import Accumulator
from .captureset import Vantage, stem
from .read import DEFAULT_PORTS, _reading, check_ports


def read_arriving(
    stream: Any,
    emit: Callable[[pd.DataFrame], None],
    *,
    ports: Iterable[int] = DEFAULT_PORTS,
    multicast: bool = False,
    chunk_messages: int = 200_000,
    every_s: float = 0.25,
) -> None:
    """Read one capture stream to its end, calling ``emit`` with each chunk of the
    messages table (capture order; ``attrs["dnspcap"]``: the statistics so far) at least
    every ``every_s`` seconds while rows come, and once more at the end (possibly
    empty: its statistics are the whole capture's).

    ``stream`` is a binary file object; with ``live = True`` it may return fewer bytes
    than asked, and it calls ``stream.on_idle()`` (set here) while it waits for more.
    """
    wanted = check_ports(ports)
    acc = Accumulator(kernel_dns=True)
    last = time.monotonic()

    def flush() -> None:
        nonlocal last
        last = time.monotonic()
        if acc.rows:
            emit(acc.frame(merge_by_time=False))

    stream.on_idle = flush
    name = stem(str(getattr(stream, "name", "stream")))
    plan = [Vantage(name, (stream,), "one stream")]
    for _ in _reading(plan, acc, wanted, multicast, "auto"):
        if acc.rows >= chunk_messages or time.monotonic() - last >= every_s:
            flush()
    stream.on_idle = None
    emit(acc.frame(merge_by_time=False))


__all__ = ["read_arriving"]
