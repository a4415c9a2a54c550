"""The growable columns the messages table is written into (dnspcap.reading.columnstore), and the
kernel helpers they use."""

from __future__ import annotations

import numpy as np
import pytest

from dnspcap.native import kernel as _kernel
from dnspcap.reading.columnstore import RowStore, anon_array

SPEC = {"frame": np.int64, "a": np.uint16, "b": np.bool_, "c": np.int8}


def _fill(store: RowStore, frames: list[int]) -> None:
    k = len(frames)
    store.reserve(k)
    n = store.n
    store["frame"][n : n + k] = frames
    store["a"][n : n + k] = [f % 65536 for f in frames]
    store["b"][n : n + k] = [f % 2 == 1 for f in frames]
    store["c"][n : n + k] = [f % 100 for f in frames]
    store.n += k


def test_grows_past_its_capacity_keeping_rows() -> None:
    store = RowStore(SPEC, cap=4)
    _fill(store, list(range(1, 4)))
    _fill(store, list(range(4, 300_001)))
    assert store.cap >= 300_000
    cols = store.finish()
    assert cols["frame"].tolist() == list(range(1, 300_001))
    assert cols["a"].dtype == np.uint16 and cols["a"][-1] == 300_000 % 65536
    assert cols["b"][:4].tolist() == [True, False, True, False]
    assert cols["frame"].flags.writeable


def test_widen_keeps_values() -> None:
    store = RowStore(SPEC, cap=8)
    _fill(store, [1, 2, 3])
    store.widen("c", np.int16)
    store.reserve(1)
    store["c"][3] = 1000
    store["frame"][3] = 4
    store.n += 1
    assert store.finish()["c"].tolist() == [1, 2, 3, 1000]


@pytest.mark.parametrize(
    ("main", "extra"),
    [
        ([1, 3, 5, 7], [2, 6]),
        ([1, 3, 5, 7], [0, 0, 8]),
        ([5, 5, 5], [5, 4]),
        ([], [3, 1]),
        ([1, 2], []),
    ],
)
def test_sort_tail_then_merge_is_a_stable_sort(main: list[int], extra: list[int]) -> None:
    store = RowStore(SPEC, cap=2)
    _fill(store, main)
    mark = store.n
    _fill(store, extra)
    # tell the rows apart beyond their frame: "a" holds the insertion order
    store["a"][: store.n] = np.arange(store.n)
    store.sort_tail(mark)
    store.merge(0, mark)
    cols = store.finish()
    frames = main + extra
    expected = sorted(range(len(frames)), key=lambda i: frames[i])
    assert cols["a"].tolist() == expected
    assert cols["frame"].tolist() == sorted(frames)


def test_merge_rows_checks_its_bounds() -> None:
    col = np.zeros(10, np.int64)
    with pytest.raises(ValueError):
        _kernel.merge_rows(col.view(np.uint8), 8, 5, 4, np.array([0, 1], np.int64))
    with pytest.raises(ValueError):
        _kernel.merge_rows(col.view(np.uint8), 8, 0, 4, np.array([3, 1], np.int64))
    with pytest.raises(ValueError):
        _kernel.merge_rows(col.view(np.uint8), 8, 0, 4, np.array([5], np.int64))


def test_qnames_renders_as_the_decoder() -> None:
    from dnspcap.reading.dnswire import read_name

    names = [b"\x03www\x07example\x03com\x00", b"\x00", b"\x03a.b\x02\\x\x02\x00\xff\x00"]
    blob = b"".join(names)
    starts = np.cumsum([0] + [len(n) for n in names[:-1]]).astype(np.int64)
    ends = starts + np.array([len(n) for n in names], np.int64)
    got = _kernel.qnames(np.frombuffer(blob, np.uint8), starts, ends)
    assert got == [read_name(n, 0) for n in names]
    assert got == ["www.example.com", ".", "a\\.b.\\\\x.\\000\\255"]
    with pytest.raises(ValueError):
        _kernel.qnames(np.frombuffer(blob, np.uint8), starts, ends + 100)


def test_anon_array_is_writable() -> None:
    a = anon_array((1 << 18, 4), np.int64)
    a[:] = 7
    assert a.shape == (1 << 18, 4) and int(a.sum()) == 7 * 4 << 18


@pytest.mark.parametrize("itemsize", [1, 2, 4])
def test_count_and_recode_codes(itemsize: int) -> None:
    dtype = {1: np.uint8, 2: np.uint16, 4: np.uint32}[itemsize]
    codes = np.array([3, 0, 3, 3, 1, 3, 3, 0, 2], dtype)
    counts = np.zeros(4, np.int64)
    _kernel.count_codes(codes.view(np.uint8), itemsize, counts)
    assert counts.tolist() == [2, 1, 1, 5]
    out = np.empty(len(codes), np.int16)
    lut = np.array([10, 11, 12, 13])
    _kernel.recode(codes.view(np.uint8), itemsize, lut, out.view(np.uint8), 2)
    assert out.tolist() == [13, 10, 13, 13, 11, 13, 13, 10, 12]
    with pytest.raises(ValueError):
        _kernel.count_codes(codes.view(np.uint8), itemsize, np.zeros(3, np.int64))
    with pytest.raises(ValueError):
        _kernel.recode(codes.view(np.uint8), itemsize, np.arange(3), out.view(np.uint8), 2)
    with pytest.raises(ValueError):  # not a whole number of items / misaligned
        _kernel.count_codes(codes.view(np.uint8)[1:], 4, counts)
