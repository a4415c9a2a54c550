"""Where a watch's bytes come from: a pipe (standard input, or tcpdump's output), or a
capture file still being written (followed like ``tail -f``).

A followed file that stops growing while the next file of its rotated set appears
(tcpdump ``-C``/``-G``) ends, and names that file (``next``): the watch goes on there.

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
from ..reading.captureset import stem

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

    def __init__(
        self, path: str, stop: threading.Event, *, follow: bool = True, seen: set[str] | None = None
    ) -> None:
        super().__init__(path, stop)
        try:
            self.file = open(path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as e:
            raise CaptureError(path, e.strerror or str(e)) from None
        self.follow = follow
        self.opened = os.stat(path).st_mtime - 1.0  # a successor is written after this one
        self.seen = seen if seen is not None else set()
        self.seen.add(os.path.abspath(path))
        self.next: Follow | None = None  # the next file of its rotated set, once it is read

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        while True:
            n = self.file.readinto(b)
            if n:
                self.bytes += n
                return n
            if not self.follow or self.stop.is_set():
                return 0
            after = self._successor()
            if after is not None and os.fstat(self.file.fileno()).st_size == self.file.tell():
                # the writer moved on to the next file of a rotated set (tcpdump -C/-G)
                self.next = Follow(after, self.stop, follow=True, seen=self.seen)
                return 0
            self._idle()
            time.sleep(POLL_S)

    def _successor(self) -> str | None:
        """The next file of this one's rotated set, once it exists: a file in the same
        folder with the same name but for its digits (:func:`stem`), not read yet,
        modified since this one was opened; the oldest first."""
        folder = os.path.dirname(os.path.abspath(self.name))
        mine = stem(self.name)
        found = []
        for entry in os.scandir(folder):
            path = os.path.abspath(entry.path)
            if path in self.seen or not entry.is_file() or stem(entry.name) != mine:
                continue
            mtime = entry.stat().st_mtime
            if mtime >= self.opened:
                found.append((mtime, entry.name, path))
        return min(found)[2] if found else None

    def close(self) -> None:
        self.file.close()
        super().close()
