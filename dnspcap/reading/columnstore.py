"""Columns that grow without being copied: where the messages table is written while it is read.

Each column is a numpy array over its own anonymous memory map. Growing it remaps the
pages (``mremap`` on Linux: nothing is copied, and pages never written are never
resident), and at the end it is shrunk to the rows written and handed to the table as
it is. So the table is built in place: no per-chunk pieces to concatenate, no second
copy of a column, and the peak memory of a read stays close to the size of its result.

Rows are appended; :meth:`RowStore.merge` puts rows the exact path appended after the
kernel's in frame order, in place (``merge_rows`` in the C kernel).
"""

from __future__ import annotations

import mmap
from typing import Any

import numpy as np

from ..native import kernel

# Private: a shared anonymous map is a fixed-size memory file, which mremap cannot grow.
_FLAGS = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)

# A finished column smaller than this is copied out of its map: a page-granular map per
# column would waste more than it saves for the many small tables tests and chunks make.
_SMALL_BYTES = 1 << 20


class Column:
    """One growable column."""

    __slots__ = ("_map", "array", "dtype")

    def __init__(self, dtype: Any, cap: int) -> None:
        self.dtype = np.dtype(dtype)
        self._map = _new_map(max(cap, 1) * self.dtype.itemsize)
        self.array: np.ndarray = np.frombuffer(self._map, self.dtype, count=cap)

    def resize(self, cap: int, keep: int) -> None:
        """Make room for `cap` rows, keeping the first `keep`. Nothing else may hold a view of
        the array (the map cannot be remapped while one is exported)."""
        size = max(cap, 1) * self.dtype.itemsize
        del self.array
        try:
            self._map.resize(size)
        except (OSError, SystemError, ValueError, BufferError):
            # no mremap here (or a view still exported): a new map, copied over
            old = np.frombuffer(self._map, self.dtype, count=keep)
            new = _new_map(size)
            np.frombuffer(new, self.dtype, count=keep)[:] = old
            del old
            self._map = new
        self.array = np.frombuffer(self._map, self.dtype, count=cap)

    def finish(self, n: int) -> np.ndarray:
        """The first n rows as an array that owns them; the column is spent."""
        if n * self.dtype.itemsize < _SMALL_BYTES:
            out = self.array[:n].copy()
        else:
            self.resize(n, n)
            out = self.array
        del self.array
        self._map = None  # type: ignore[assignment]
        return out


class RowStore:
    """Columns of equal length; ``n`` rows are written, room for ``cap``."""

    def __init__(self, spec: dict[str, Any], cap: int = 1 << 16) -> None:
        self.n = 0
        self.cap = cap
        self.cols = {name: Column(dtype, cap) for name, dtype in spec.items()}

    def __getitem__(self, name: str) -> np.ndarray:
        """The whole column, room included: write rows [n, n + k) then add k to n."""
        return self.cols[name].array

    def reserve(self, rows: int) -> None:
        """Room for `rows` more rows (capacity doubles, so growing costs nothing per row)."""
        need = self.n + rows
        if need <= self.cap:
            return
        cap = max(need, 2 * self.cap)
        for col in self.cols.values():
            col.resize(cap, self.n)
        self.cap = cap

    def widen(self, name: str, dtype: Any) -> None:
        """Give a column a wider element type (codes that outgrew int8 or int16)."""
        old = self.cols[name]
        new = Column(dtype, self.cap)
        new.array[: self.n] = old.array[: self.n]
        self.cols[name] = new

    def merge(self, start: int, nmain: int) -> None:
        """Rows [start, start + nmain) are in frame order and so are the rows after them
        (up to n): interleave the two runs, in place, the earlier run first on ties."""
        frame = self["frame"]
        main, extra = frame[start : start + nmain], frame[start + nmain : self.n]
        if not len(extra) or not nmain or extra[0] >= main[-1]:
            return
        at = np.searchsorted(main, extra, side="right").astype(np.int64)
        del main, extra, frame
        for col in self.cols.values():
            kernel.merge_rows(col.array.view(np.uint8), col.dtype.itemsize, start, nmain, at)

    def sort_tail(self, start: int) -> None:
        """Put rows [start, n) in frame order (stable), when they are not."""
        frame = self["frame"][start : self.n]
        if len(frame) < 2 or bool((frame[1:] >= frame[:-1]).all()):
            return
        order = np.argsort(frame, kind="stable")
        del frame
        for col in self.cols.values():
            part = col.array[start : self.n]
            part[:] = part[order]

    def finish(self) -> dict[str, np.ndarray]:
        """Every column, n rows long; the store is spent."""
        n = self.n
        out = {name: col.finish(n) for name, col in self.cols.items()}
        self.cols = {}
        return out


def anon_array(shape: int | tuple[int, ...], dtype: Any) -> np.ndarray:
    """An uninitialised array in its own anonymous map, for big buffers that live for one
    read: freed, it goes back to the system at once instead of staying in malloc's heap."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    if count * dtype.itemsize < _SMALL_BYTES:
        return np.empty(shape, dtype)
    return np.frombuffer(_new_map(count * dtype.itemsize), dtype, count=count).reshape(shape)


def _new_map(size: int) -> mmap.mmap:
    if _FLAGS:
        return mmap.mmap(-1, size, flags=_FLAGS)
    return mmap.mmap(-1, size)  # Windows: no flags (and no resize: copies)
