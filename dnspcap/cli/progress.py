"""What the command line shows while it works: a progress line on stderr.

Shown only when stderr is a terminal (never in a pipe, a log or CI). Reading is
measured in bytes of the capture files; the later stages by name.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


class Progress:
    """One status line, redrawn at most ten times a second, erased at the end."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total_bytes
        self.done = 0
        self.stage = "reading"
        self.start = self._last = time.monotonic()
        self._shown = False
        self.sets: tuple[int, int] | None = None

    def advance(self, n: int) -> None:
        self.done += n
        if time.monotonic() - self._last >= 0.1:
            self.draw()

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.draw()

    def sets_done(self, done: int, total: int, nbytes: int) -> None:
        """A cluster run: partitions read on the workers so far, of how many, bytes."""
        self.sets = (done, total)
        self.done = nbytes
        self.draw()

    def draw(self) -> None:
        self._last = time.monotonic()
        mb = self.done / 1e6
        if self.stage == "reading" and self.sets:
            done, total = self.sets
            line = f"reading on the cluster: {done}/{total} partitions read, {mb:,.0f} MB"
        elif self.stage == "reading" and self.total:
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(frac * 30)
            line = f"reading [{bar:<30}] {frac:4.0%} {mb:,.0f}/{self.total / 1e6:,.0f} MB"
        elif self.stage == "reading":
            line = f"reading {mb:,.0f} MB"
        else:
            line = f"{self.stage} ({self._last - self.start:.1f} s)"
        self.stream.write("\r\x1b[2K" + line)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path) if path != "-" else 0
    except OSError:
        return 0
