"""Where a watch's bytes come from: a pipe (standard input, or tcpdump's output), or a
capture file still being written (followed like ``tail -f``).

Both are ``live`` streams for :func:`dnspcap.reading.arriving.read_arriving`: a read
returns what has arrived (at least one byte), and while nothing arrives the stream calls
its ``on_idle`` hook every ``POLL_S`` so the rows decoded so far move on. A read returns
nothing (the end) when the pipe closes, when a followed file is not to be followed
further, or once ``stop`` is set (``--duration``, Ctrl-C).
"""

from __future__ import annotations

import io
import os
import select
import threading
import time
from collections.abc import Callable
from typing import BinaryIO

from ..errors import CaptureError

POLL_S = 0.2


class _Arriving(io.RawIOBase):
    live = True

    def __init__(self, name: str, stop: threading.Event) -> None:
        self.name = name
        self.stop = stop
        self.on_idle: Callable[[], None] | None = None
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def _idle(self) -> None:
        if self.on_idle is not None:
            self.on_idle()


class Pipe(_Arriving):
    """A pipe's bytes as they arrive, each also written to ``spool`` (the capture the
    report is made of) when one is given."""

    def __init__(
        self, fd: int, name: str, stop: threading.Event, spool: BinaryIO | None = None
    ) -> None:
        super().__init__(name, stop)
        self.fd = fd
        self.spool = spool

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        mv = memoryview(b)
        while True:
            if self.stop.is_set():
                return 0
            ready, _, _ = select.select([self.fd], [], [], POLL_S)
            if ready:
                break
            self._idle()
        n = os.readv(self.fd, [mv])
        if n and self.spool is not None:
            self.spool.write(mv[:n])
        self.bytes += n
        return n


class Follow(_Arriving):
    """A capture file read as it grows: at its current end, wait for more (a record cut
    there is completed by the next write); ``follow=False`` reads it to its end once."""

    def __init__(self, path: str, stop: threading.Event, *, follow: bool = True) -> None:
        super().__init__(path, stop)
        try:
            self.file = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise CaptureError(path, e.strerror or str(e)) from None
        self.follow = follow

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            n = self.file.readinto(b)
            if n:
                self.bytes += n
                return n
            if not self.follow or self.stop.is_set():
                return 0
            self._idle()
            time.sleep(POLL_S)

    def close(self) -> None:
        self.file.close()
        super().close()
