"""Pairing queries with responses: the cases peers get wrong (REFERENCE.md §4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import dnspcap
from dnspcap.pairing.transactions import pair

from . import pairing_reference as reference
from .corpus import corpus_captures
from .wire import POD, VIP, Q, R, write

A1 = "93.184.215.14"
AAAA1 = "2606:2800:21f:cb07::14"


def transactions(tmp_path: Path, events: list[Q | R], **kw: object) -> pd.DataFrame:
    return pair(dnspcap.read_messages(write(tmp_path / "c.pcap", events)), **kw)  # type: ignore[arg-type]


def test_glibc_retry_after_a_lost_aaaa_is_one_transaction_with_two_attempts(
    tmp_path: Path,
) -> None:
    # glibc: A and AAAA from one socket; AAAA lost; at +5 s both resent, same IDs, in turn.
    t = transactions(
        tmp_path,
        [
            Q(0.0, 40000, 0x1111, "api.example.com", "A"),
            Q(0.00006, 40000, 0x2222, "api.example.com", "AAAA"),
            R(0.0009, 40000, 0x1111, "api.example.com", "A", answer=A1),
            Q(5.0001, 40000, 0x1111, "api.example.com", "A"),
            R(5.0010, 40000, 0x1111, "api.example.com", "A", answer=A1),
            Q(5.0012, 40000, 0x2222, "api.example.com", "AAAA"),
            R(5.0020, 40000, 0x2222, "api.example.com", "AAAA", answer=AAAA1),
        ],
    )
    assert len(t) == 3
    aaaa = t[t.qtype == "AAAA"].iloc[0]
    assert aaaa.attempts == 2
    assert aaaa.retry_gaps == pytest.approx([5.00114])
    assert aaaa.rtt == pytest.approx(5.00194)
    assert aaaa.rtt_last == pytest.approx(0.0008)
    assert list(aaaa.query_frames) == [2, 6] and list(aaaa.response_frames) == [7]
    a = t[t.qtype == "A"]
    assert list(a.attempts) == [1, 1]  # answered, then asked again: two transactions
    assert set(t.status) == {"answered"}
    assert not t.id_collision.any()


def test_musl_same_id_pair_is_two_transactions_flagged_as_collision(tmp_path: Path) -> None:
    t = transactions(
        tmp_path,
        [
            Q(0.0, 41000, 0x5A5A, "db.prod.svc.cluster.local", "A"),
            Q(0.00006, 41000, 0x5A5A, "db.prod.svc.cluster.local", "AAAA"),
            R(0.0008, 41000, 0x5A5A, "db.prod.svc.cluster.local", "AAAA"),  # NODATA first
            R(0.0009, 41000, 0x5A5A, "db.prod.svc.cluster.local", "A", answer="10.0.0.5"),
        ],
    )
    assert len(t) == 2
    assert t.id_collision.all()
    assert t.set_index("qtype").loc["A", "answers"] == "A 10.0.0.5"
    assert (t.attempts == 1).all() and (t.status == "answered").all()


def test_answer_with_another_question_stays_with_its_query_as_mismatched(tmp_path: Path) -> None:
    t = transactions(
        tmp_path,
        [
            Q(0.0, 42000, 7, "a.example.com"),
            R(0.001, 42000, 7, "b.example.com", answer=A1),
            Q(0.5, 42001, 8, "c.example.com"),
        ],
        capture_end=pd.Timestamp(1_764_000_000 + 0.5, unit="s", tz="UTC"),
    )
    assert len(t) == 2
    first = t.iloc[0]
    assert first.status == "mismatched_question"
    assert first.qname == "a.example.com"
    assert list(first.response_frames) == [2]
    assert t.iloc[1].status == "pending"


def test_duplicates_orphans_unanswered_and_pending(tmp_path: Path) -> None:
    t = transactions(
        tmp_path,
        [
            Q(0.0, 43000, 1, "dup.example.com"),
            R(0.001, 43000, 1, "dup.example.com", answer=A1),
            R(0.002, 43000, 1, "dup.example.com", answer=A1),
            R(0.1, 43001, 2, "orphan.example.com", answer=A1),
            Q(1.0, 43002, 3, "lost.example.com"),
            Q(9.0, 43003, 4, "late.example.com"),
            R(9.001, 43003, 4, "late.example.com", answer=A1),
            Q(10.0, 43004, 5, "pending.example.com"),
        ],
    )
    by = t.set_index("qname")
    assert by.loc["dup.example.com", "duplicate_responses"] == 1
    assert by.loc["dup.example.com", "responses"] == 2
    assert by.loc["orphan.example.com", "status"] == "response_without_query"
    assert by.loc["orphan.example.com", "attempts"] == 0
    assert pd.isna(by.loc["orphan.example.com", "rtt"])
    assert by.loc["lost.example.com", "status"] == "unanswered"  # 9 s of capture after it
    assert by.loc["pending.example.com", "status"] == "pending"  # the capture ended at once
    assert by.loc["late.example.com", "rtt"] == pytest.approx(0.001)


def test_nxdomain_chain_has_round_trip_times(tmp_path: Path) -> None:
    # Zeek gives NXDOMAIN answers no rtt (zeek#1085); every answered query has one here.
    names = [f"api.example.com.{s}" for s in ("ns.svc.cluster.local", "svc.cluster.local")]
    ev: list[Q | R] = []
    for i, n in enumerate(names):
        t0 = i * 0.01
        ev += [Q(t0, 44000 + i, 10 + i, n), R(t0 + 0.0007, 44000 + i, 10 + i, n, rcode=3)]
    t = transactions(tmp_path, ev)
    assert list(t.rcode) == ["NXDOMAIN", "NXDOMAIN"]
    assert t.rtt.to_numpy() == pytest.approx([0.0007, 0.0007])


def test_node_capture_sees_both_sides_of_dnat(tmp_path: Path) -> None:
    endpoint = "10.244.2.9"
    t = transactions(
        tmp_path,
        [
            Q(0.0, 45000, 0x77, "web.example.com", server=VIP),
            Q(0.00003, 45000, 0x77, "web.example.com", server=endpoint),
            R(0.0008, 45000, 0x77, "web.example.com", answer=A1, server=endpoint),
            R(0.00083, 45000, 0x77, "web.example.com", answer=A1, server=VIP),
        ],
    )
    assert len(t) == 2
    assert set(t.server) == {VIP, endpoint}
    assert (t.status == "answered").all()
    assert list(t.nat_peer) == [1, 0]
    assert set(t.client) == {POD}


def _events() -> st.SearchStrategy[list[Q | R]]:
    ev = st.builds(
        lambda kind, t, port, id_, name, qtype: (Q if kind else R)(
            t, 50000 + port, id_, f"n{name}.example.com", qtype
        ),
        st.booleans(),
        st.floats(0, 30, allow_nan=False).map(lambda x: round(x, 4)),
        st.integers(0, 2),
        st.integers(0, 2),
        st.integers(0, 2),
        st.sampled_from(["A", "AAAA"]),
    )
    return st.lists(ev, min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(events=_events())
def test_every_message_belongs_to_exactly_one_transaction(events: list[Q | R]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        m = dnspcap.read_messages(write(Path(d) / "p.pcap", events))
    t = pair(m)
    assert int(t.attempts.sum() + t.responses.sum()) == len(m)
    frames = np.concatenate(
        [np.concatenate([list(f) for f in t.query_frames] + [[]]),
         np.concatenate([list(f) for f in t.response_frames] + [[]])]
    )  # fmt: skip
    assert sorted(frames.astype(int).tolist()) == sorted(m.frame.tolist())
    # a query's transaction holds only queries with its own question, on its own socket
    assert ((t.attempts > 0) | (t.status == "response_without_query")).all()


# ---- the C passes (dnspcap/csrc/pairing/pair.c) against the numpy version
# (tests/pairing_reference.py)

SAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("samples/**/*.pcap*"))


def _agree(m: pd.DataFrame) -> None:
    # exactly: round trips are the same float divisions in C and in numpy
    pd.testing.assert_frame_equal(pair(m), reference.pair(m), check_exact=True)


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_pairing_agrees_with_the_reference_on_samples(path: Path) -> None:
    _agree(dnspcap.read_messages(path))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_captures(), ids=str)
def test_pairing_agrees_with_the_reference_on_corpus(path: Path) -> None:
    try:
        m = dnspcap.read_messages(path)
    except dnspcap.CaptureError:
        return
    _agree(m)


def _busy_events() -> st.SearchStrategy[list[Q | R]]:
    """Few sockets, IDs, names and servers, so that keys repeat: retransmissions,
    duplicates, orphans, mismatched answers, ID collisions and copies across DNAT."""
    ev = st.builds(
        lambda kind, t, port, id_, name, qtype, server: (Q if kind else R)(
            t, 50000 + port, id_, f"n{name}.example.com", qtype, server=server
        ),
        st.booleans(),
        st.sampled_from([0.0, 0.00002, 0.001, 0.04, 2.5, 5.0, 61.0]).flatmap(
            lambda step: st.integers(0, 8).map(lambda k: round(k * step, 5))
        ),
        st.integers(0, 1),
        st.integers(0, 1),
        st.integers(0, 1),
        st.sampled_from(["A", "AAAA"]),
        st.sampled_from([VIP, "10.244.1.7"]),
    )
    return st.lists(ev, min_size=1, max_size=30)


_ONE_INSTANT = [  # two answers in one instant that the same query could take as its own
    R(0.0, 50000, 0, "n0.example.com", "AAAA"),
    R(0.0, 50000, 0, "n1.example.com", "A"),
    Q(0.0, 50000, 0, "n0.example.com", "A"),
    Q(0.0, 50000, 0, "n0.example.com", "A", server="10.244.1.7"),
]


# Rows out of time order (seed 26 shuffles them): the first row of the orphan answers
# of n1 was the later one, at the query's instant, and joined them to it; the earlier
# answer then came before the query it was joined to. The join now takes each orphan
# transaction's first answer in time.
_SHUFFLED_ORPHAN = [
    *[R(0.0, 50000, 0, "n0.example.com", "A")] * 4,
    R(0.0, 50000, 1, "n0.example.com", "A"),
    R(0.0, 50000, 1, "n1.example.com", "A"),
    R(0.00002, 50000, 1, "n1.example.com", "A"),
    *[R(0.0, 50000, 0, "n0.example.com", "A")] * 2,
    *[R(0.00002, 50000, 0, "n0.example.com", "A")] * 4,
    Q(0.00002, 50000, 1, "n0.example.com", "AAAA"),
]


# A response stamped before its query (within SKEW_ALLOWANCE_S) and another question's
# orphan answer on that socket and ID in the same instant: the answered transaction comes
# first in the transactions' order (by first message), not by its query's time; both are
# in flight at once, an ID collision. The reference ordered the socket's transactions by
# their first queries and saw none.
_SKEWED_COLLISION = [
    *[R(0.0, 50000, 0, "n0.example.com", "A")] * 7,
    R(0.0, 50000, 0, "n0.example.com", "A", server="10.244.1.7"),
    R(0.0, 50000, 0, "n0.example.com", "AAAA", server="10.244.1.7"),
    Q(0.00002, 50000, 0, "n0.example.com", "A", server="10.244.1.7"),
]


@settings(max_examples=150, deadline=None)
@given(events=_busy_events(), seed=st.integers(0, 2**32 - 1))
@example(events=_ONE_INSTANT, seed=4277149)
@example(events=_SKEWED_COLLISION, seed=0)
@example(events=_SHUFFLED_ORPHAN, seed=26)
def test_pairing_agrees_with_the_reference_on_random_traffic(
    events: list[Q | R], seed: int
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        m = dnspcap.read_messages(write(Path(d) / "p.pcap", events))
    _agree(m)
    # rows out of time order (a merge of interfaces or files): sorted by time, ties kept
    shuffled = m.iloc[np.random.default_rng(seed).permutation(len(m))].reset_index(drop=True)
    _agree(shuffled)


def test_pair_kernel_rejects_inconsistent_arrays() -> None:
    from dnspcap import _kernel

    n = 3
    i8, i32, u16 = np.zeros(n, np.int8), np.zeros(n, np.int32), np.zeros(n, np.uint16)
    lut = np.array([-1, 0], np.int32)  # address code -1 (none) and 0
    # qr, file, src, dst, src_lut, dst_lut, sport, dport, transport, id, qname, qtype,
    # qclass, ts: codes of 1, 2 or 4 bytes, as pandas narrows them
    cols = (
        np.zeros(n, bool), i8, i8, np.zeros(n, np.int16), lut, lut, u16, u16, i8, u16, i32,
        i8, i8, np.zeros(n, np.int64),
    )  # fmt: skip
    txn, kind = np.empty(n, np.int32), np.zeros(n, np.uint8)
    with pytest.raises(ValueError, match="order"):
        _kernel.pair_assign(*cols, np.array([0, 5, 1]), 10, txn, kind)
    with pytest.raises(ValueError, match="qname has 2 entries"):
        bad = list(cols)
        bad[10] = np.zeros(2, np.int32)
        _kernel.pair_assign(*bad, np.empty(0, np.int64), 10, txn, kind)
    with pytest.raises(TypeError, match="int8, int16 or int32"):
        bad = list(cols)
        bad[1] = np.zeros(n, np.int64)
        _kernel.pair_assign(*bad, np.empty(0, np.int64), 10, txn, kind)
    with pytest.raises(ValueError, match=r"dst\[1\] = 1 has no entry in its lut"):
        bad = list(cols)
        bad[3] = np.array([0, 1, 0], np.int16)
        _kernel.pair_assign(*bad, np.empty(0, np.int64), 10, txn, kind)
    assert _kernel.pair_assign(*cols, np.empty(0, np.int64), 10, txn, kind) == 1
    # a transaction number out of range is refused, not followed
    z32 = np.zeros(1, np.int32)
    out = (z32, z32.copy(), z32.copy(), z32.copy(), z32.copy(), z32.copy())
    with pytest.raises(ValueError, match="out of range"):
        _kernel.pair_stats(
            *cols, np.empty(0, np.int64), np.arange(n), np.array([0, 0, 7], np.int32), *out,
            np.zeros(3, np.int64), np.zeros(0, np.int64), np.zeros(3),
        )  # fmt: skip
    with pytest.raises(ValueError, match="rep is out of range"):
        _kernel.pair_links(*cols, np.array([9], np.int32), np.ones(1, np.int32), z32, z32.copy())
    # pair_columns: rows within the messages, the status in one byte, a float timeout
    m = 2
    rows = [np.zeros(m, np.int32) for _ in range(5)]  # rep, first_q, first_r, last_q, ..._any
    counts = (np.ones(m, np.int32), np.zeros(m, np.int32))
    outs = (
        np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m, np.int64), np.empty(m),
        np.empty(m), np.empty(m, np.int8), np.empty(m, np.int8), np.empty(m, np.int8),
        np.empty(m, np.uint16), np.empty(m, np.uint16),
    )  # fmt: skip
    flags = np.zeros(m, bool)
    _kernel.pair_columns(*cols, *rows, *counts, flags, 10**9, 5.0, *outs)
    assert list(outs[5]) == [2, 2]  # unanswered 1 s before the capture ended: pending
    _kernel.pair_columns(*cols, *rows, *counts, flags, 5 * 10**9, 5.0, *outs)
    assert list(outs[5]) == [1, 1]  # the capture outlived its timeout: unanswered
    with pytest.raises(ValueError, match=r"first_r\[1\] = 3 is not within \[-1, 3\)"):
        bad_rows = [r.copy() for r in rows]
        bad_rows[2][1] = 3
        _kernel.pair_columns(*cols, *bad_rows, *counts, flags, 0, 5.0, *outs)
    with pytest.raises(TypeError, match="status must be int8"):
        wide = list(outs)
        wide[5] = np.empty(m, np.int16)
        _kernel.pair_columns(*cols, *rows, *counts, flags, 0, 5.0, *wide)
    with pytest.raises(TypeError, match="must be real number"):
        _kernel.pair_columns(*cols, *rows, *counts, flags, 0, "5", *outs)
    # take_rows: values at rows, the fill where a row is -1; rows within the values
    values, got = np.array([7, 8, 9], np.uint16), np.empty(3, np.uint16)
    _kernel.take_rows(
        values.view(np.uint8), 2, np.array([2, -1, 0], np.int32), 5, got.view(np.uint8)
    )
    assert list(got) == [9, 5, 7]
    with pytest.raises(ValueError, match=r"rows\[0\] = 3 is not within \[-1, 3\)"):
        _kernel.take_rows(
            values.view(np.uint8), 2, np.array([3], np.int32), 0, got[:1].view(np.uint8)
        )
    with pytest.raises(ValueError, match="itemsize 3"):
        _kernel.take_rows(values.view(np.uint8), 3, np.array([0], np.int32), 0, got.view(np.uint8))
