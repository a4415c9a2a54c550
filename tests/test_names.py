"""The array versions of the name work in dnspcap.grouping.names agree with plain Python."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dnspcap.grouping.join import _readings
from dnspcap.grouping.names import readings, split_pairs, text_array

from .lookups_reference import _split

# few labels, so that names share suffixes and prefixes; "" makes empty labels, "é" a
# character of two bytes
_label = st.sampled_from(["", "a", "b", "ns-1", "svc", "é", "cluster", "local"])
_name = st.lists(_label, max_size=6).map(".".join)


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(_name, min_size=1, max_size=12, unique=True),
    lists=st.lists(st.lists(_name, max_size=4).map(tuple), min_size=1, max_size=3),
    data=st.data(),
)
def test_readings_are_those_of_each_name(
    names: list[str], lists: list[tuple[str, ...]], data: st.DataObject
) -> None:
    keys = data.draw(
        st.lists(st.tuples(st.integers(0, len(lists) - 1), st.integers(0, len(names) - 1)))
    )
    key_list = np.array([k for k, _ in keys], np.int64)
    key_name = np.array([n for _, n in keys], np.int64)
    r = readings(text_array(names), lists, key_list, key_name)
    bases = r.bases.to_pylist()
    assert len(set(bases)) == len(bases)  # one code per base
    for k, (lst, nm) in enumerate(keys):
        got = [
            (bases[b], int(s))
            for b, s in zip(
                r.base[r.start[k] : r.start[k] + r.length[k]],
                r.step[r.start[k] : r.start[k] + r.length[k]],
                strict=True,
            )
        ]
        assert got == _readings(names[nm], list(lists[lst]))


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_name, min_size=2, max_size=12, unique=True), data=st.data())
def test_split_pairs_split_as_str_split_does(names: list[str], data: st.DataObject) -> None:
    index = st.integers(0, len(names) - 1)
    pairs = [(a, b) for a, b in data.draw(st.lists(st.tuples(index, index))) if a != b]
    first = np.array([a for a, _ in pairs], np.int64)
    second = np.array([b for _, b in pairs], np.int64)
    codes, splits = split_pairs(text_array(names), first, second)
    assert len(set(splits)) == len(splits)
    for (a, b), code in zip(pairs, codes.tolist(), strict=True):
        assert (splits[code] if code >= 0 else None) == _split(names[a], names[b])


def test_gather_ranges_checks_its_ranges() -> None:
    """The C gather behind cut() copies the ranges in order and refuses one past the data
    or beyond the room it is given, instead of reading or writing past them."""
    import pytest

    from dnspcap.native import gather_ranges

    data = np.frombuffer(b"api.example.com", np.uint8)
    out = np.empty(7, np.uint8)
    gather_ranges(data, np.array([4, 0], np.int64), np.array([4, 3], np.int64), out)
    assert out.tobytes() == b"examapi"
    with pytest.raises(ValueError, match="not within"):
        gather_ranges(data, np.array([10], np.int64), np.array([6], np.int64), out)
    with pytest.raises(ValueError, match="not within"):
        gather_ranges(data, np.array([0], np.int64), np.array([8], np.int64), out)
