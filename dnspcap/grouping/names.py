"""Text work on the distinct names of a capture as array operations, for dnspcap.lookups.

The benchmark capture has tens of thousands of distinct (search list, name) pairs and
pairs of consecutive names; a Python loop over them costs more than the grouping itself.
Here the names are one pyarrow string array and the work is pyarrow kernels and numpy
over its UTF-8 bytes: which search suffixes a name ends with, the name without them, and
where two names part.

Positions are byte offsets into the UTF-8 text. A name is only ever cut next to a ".",
an ASCII byte that never occurs inside a multi-byte character, so a cut in bytes is the
cut Python's str slicing makes in characters.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..arrays.memory import ARROW_POOL
from ..native import kernel


def text_array(values: list[str]) -> pa.LargeStringArray:
    return pa.array(values, pa.large_string(), memory_pool=ARROW_POOL)


def take(text: pa.Array, rows: np.ndarray) -> pa.Array:
    """text[rows], made in ARROW_POOL."""
    return pc.take(text, rows, memory_pool=ARROW_POOL)


def byte_lengths(text: pa.LargeStringArray) -> np.ndarray:
    lengths = pc.binary_length(text, memory_pool=ARROW_POOL)
    return np.asarray(lengths.to_numpy(zero_copy_only=False), np.int64)


def cut(
    text: pa.LargeStringArray, which: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> pa.LargeStringArray:
    """``text[which[i]][start[i]:stop[i]]`` for each i (byte offsets, 0 <= start <= stop
    <= the length of that text), gathered in one C pass instead of a slice per string."""
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks(memory_pool=ARROW_POOL)
    n = len(which)
    offsets = np.frombuffer(text.buffers()[1], np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2] or b"", np.uint8)
    lengths = np.asarray(stop - start, np.int64)
    new_offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    gathered = np.empty(int(new_offsets[-1]), np.uint8)
    kernel.gather_ranges(data, np.asarray(offsets[which] + start, np.int64), lengths, gathered)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(new_offsets), pa.py_buffer(gathered))


def encode(text: pa.LargeStringArray) -> tuple[np.ndarray, pa.LargeStringArray]:
    """Codes (in the order first seen) and the distinct texts."""
    enc = pc.dictionary_encode(text, memory_pool=ARROW_POOL)
    return np.asarray(enc.indices.to_numpy(zero_copy_only=False), np.int64), enc.dictionary


class Readings(NamedTuple):
    """The readings of each (search list, name) key: its readings are
    ``base[start[k] : start[k] + length[k]]`` with ``step`` beside them."""

    start: np.ndarray
    length: np.ndarray
    base: np.ndarray  # codes into bases
    step: np.ndarray
    bases: pa.LargeStringArray


def readings(
    names: pa.LargeStringArray,
    lists: list[tuple[str, ...]],
    key_list: np.ndarray,
    key_name: np.ndarray,
) -> Readings:
    """What ``dnspcap.lookups._readings(names[key_name[k]], lists[key_list[k]])`` gives
    for each key k: (the name without the suffix, i) for each suffix i of the list it ends
    with after a "." and something before it, then (the name, len(list))."""
    n_keys = len(key_list)
    sizes = np.array([len(x) for x in lists] or [0], np.int64)
    first_suffix = np.cumsum(sizes) - sizes
    suffixes = text_array([f".{s}" for lst in lists for s in lst])
    suffix_len = np.append(byte_lengths(suffixes), 0)  # 0 after the last: the name itself
    name_len = byte_lengths(names)
    # every (key, position in its list): does the name end with that ".suffix"?
    per_key = sizes[key_list]
    key = np.repeat(np.arange(n_keys), per_key)
    pos = np.arange(len(key)) - np.repeat(np.cumsum(per_key) - per_key, per_key)
    suffix = first_suffix[key_list[key]] + pos
    nlen, slen = name_len[key_name[key]], suffix_len[suffix]
    fits = np.flatnonzero(nlen > slen)
    tails = cut(names, key_name[key[fits]], nlen[fits] - slen[fits], nlen[fits])
    ends = pc.equal(tails, take(suffixes, suffix[fits]), memory_pool=ARROW_POOL)
    ends = ends.to_numpy(zero_copy_only=False)
    # a table of which readings each key has, read row by row: in the order of its list,
    # the name as it is last (step len(list))
    table = np.zeros((n_keys, int(sizes.max()) + 1), np.bool_)
    table[key[fits[ends]], pos[fits[ends]]] = True
    table[np.arange(n_keys), per_key] = True
    k, step = np.nonzero(table)
    count = np.count_nonzero(table, axis=1).astype(np.int64)
    # the bases: the name itself, or cut before a suffix (those are cut out and coded
    # after the names, so that a base that is also a name has one code)
    base = key_name[k]
    cuts = np.flatnonzero(step < per_key[k])
    stop = name_len[base[cuts]] - suffix_len[first_suffix[key_list[k[cuts]]] + step[cuts]]
    short = cut(names, base[cuts], np.zeros(len(cuts), np.int64), stop)
    code, bases = encode(pa.concat_arrays([names, short], memory_pool=ARROW_POOL))
    base = code[base]
    base[cuts] = code[len(names) + np.arange(len(cuts))]
    return Readings(np.cumsum(count) - count, count, base, step.astype(np.int64), bases)


def split_pairs(
    names: pa.LargeStringArray, first: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Per pair of names (first[i], second[i]), the code of the two suffixes they are one
    base with, -1 when they are not: the labels after the leading ones both share, when
    they share at least one and the first has more. Also the suffix pair of each code, as
    ``dnspcap.lookups`` would split them with ``str.split(".")``."""
    labels = pc.split_pattern(names, ".", memory_pool=ARROW_POOL)
    at = np.asarray(labels.offsets.to_numpy(), np.int64)  # first label of each name
    n_labels = np.diff(at)
    flat = pc.list_flatten(labels, memory_pool=ARROW_POOL)
    code, _ = encode(flat)
    # where each label starts in its name
    size = byte_lengths(flat) + 1
    before = np.cumsum(size) - size
    # the count of leading labels each pair shares: compare one label position at a time,
    # only for pairs still equal so far
    shared = np.zeros(len(first), np.int64)
    alive = np.arange(len(first))
    while len(alive):
        j = shared[alive]
        a, b = first[alive], second[alive]
        more = (j < n_labels[a]) & (j < n_labels[b])
        alive, j, a, b = alive[more], j[more], a[more], b[more]
        alive = alive[code[at[a] + j] == code[at[b] + j]]
        shared[alive] += 1
    ok = np.flatnonzero((shared > 0) & (shared < n_labels[first]))
    a, b, k = first[ok], second[ok], shared[ok]
    off = before[at[a] + k] - before[at[a]]  # the first suffix's first byte
    a_len, b_len = byte_lengths(take(names, a)), byte_lengths(take(names, b))
    a_code, a_text = encode(cut(names, a, off, a_len))
    # the second may be the shared labels alone: its suffix is empty
    b_code, b_text = encode(cut(names, b, np.minimum(off, b_len), b_len))
    n_b = max(len(b_text), 1)
    pair_code = a_code * n_b + b_code
    distinct, codes = np.unique(pair_code, return_inverse=True)
    a_list, b_list = a_text.to_pylist(), b_text.to_pylist()
    splits = [(a_list[x // n_b], b_list[x % n_b]) for x in distinct.tolist()]
    out = np.full(len(first), -1, np.int64)
    out[ok] = codes
    return out, splits
