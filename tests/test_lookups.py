"""Grouping transactions into the lookups resolvers made (REFERENCE.md §2)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dnspcap
from dnspcap.grouping.join import infer_search_list, lookups
from dnspcap.pairing.transactions import pair

from . import lookups_reference as reference
from .corpus import corpus_captures
from .synthetic import make_capture
from .wire import Q, R, write

A1 = "93.184.215.14"
AAAA1 = "2606:2800:21f:cb07::14"
SEARCH = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")


def run(tmp_path: Path, events: list[Q | R]) -> tuple[pd.DataFrame, pd.DataFrame]:
    t = pair(dnspcap.read_messages(write(tmp_path / "c.pcap", events)))
    return t, lookups(t)


def ndots_chain(t0: float, port0: int, name: str, ids: int) -> list[Q | R]:
    """glibc resolving `name` under ndots:5: three NXDOMAIN steps, then the answer."""
    ev: list[Q | R] = []
    steps = [f"{name}.{s}" for s in SEARCH] + [name]
    for k, step in enumerate(steps):
        t, port, last = t0 + k * 0.002, port0 + k, k == len(steps) - 1
        id_a, id_aaaa = ids + 2 * k, ids + 2 * k + 0x7331  # glibc: independent random IDs
        rcode = 0 if last else 3
        ev += [
            Q(t, port, id_a, step, "A"),
            Q(t + 6e-5, port, id_aaaa, step, "AAAA"),
            R(t + 9e-4, port, id_a, step, "A", rcode=rcode, answer=A1 if last else None),
            R(t + 1e-3, port, id_aaaa, step, "AAAA", rcode=rcode, answer=AAAA1 if last else None),
        ]
    return ev


def test_ndots_chain_is_one_lookup_with_six_wasted_queries(tmp_path: Path) -> None:
    t, lk = run(tmp_path, ndots_chain(0.0, 40000, "api.example.com", 0x1000))
    assert infer_search_list(t) == {"10.244.1.17": list(SEARCH)}
    assert len(lk) == 1
    row = lk.iloc[0]
    assert (row["name"], row.final_name, row.outcome) == ("api.example.com",) * 2 + ("answered",)
    assert (row.queries, row.search_queries, row.sockets) == (8, 6, 4)
    assert row.duration == pytest.approx(0.007)
    assert row.resolver == "glibc"


def test_repeated_lookups_of_one_name_stay_apart(tmp_path: Path) -> None:
    ev = ndots_chain(0.0, 40000, "api.example.com", 0x1000)
    ev += ndots_chain(1.0, 41000, "api.example.com", 0x3000)
    _, lk = run(tmp_path, ev)
    assert len(lk) == 2
    assert list(lk.queries) == [8, 8]


def test_glibc_retry_on_the_same_socket_joins_the_lookup(tmp_path: Path) -> None:
    name = "db.example.com"
    _, lk = run(
        tmp_path,
        [
            Q(0.0, 40000, 0x1111, name, "A"),
            Q(0.00006, 40000, 0x2222, name, "AAAA"),
            R(0.0009, 40000, 0x1111, name, "A", answer=A1),
            Q(5.0001, 40000, 0x1111, name, "A"),  # glibc resends both, now in turn
            R(5.0010, 40000, 0x1111, name, "A", answer=A1),
            Q(5.0012, 40000, 0x2222, name, "AAAA"),
            R(5.0020, 40000, 0x2222, name, "AAAA", answer=AAAA1),
        ],
    )
    assert len(lk) == 1
    row = lk.iloc[0]
    assert row.retransmissions == 1
    # from the first query to the last attempt of a question asked again (the AAAA at
    # 5.0012); the A asked again at 5.0001 waited in the same span
    assert row.time_lost_to_retries == pytest.approx(5.0012)
    assert row.duration == pytest.approx(5.002)
    assert row.resolver == "glibc"
    assert "retry after 5 s" in row.resolver_evidence
    # glibc switched itself to sending A and AAAA in turn after the timeout
    assert "A and AAAA sent in turn on one socket" in row.resolver_evidence


def test_musl_pair_with_one_id_and_a_2_5_s_retry(tmp_path: Path) -> None:
    name = "cache.example.com"
    _, lk = run(
        tmp_path,
        [
            Q(0.0, 41000, 0x5A5A, name, "A"),
            Q(0.00006, 41000, 0x5A5A, name, "AAAA"),
            R(0.0009, 41000, 0x5A5A, name, "A", answer=A1),
            Q(2.5, 41000, 0x5A5A, name, "AAAA"),
            R(2.501, 41000, 0x5A5A, name, "AAAA", answer=AAAA1),
        ],
    )
    assert len(lk) == 1
    assert lk.iloc[0].resolver == "musl"
    assert lk.iloc[0].time_lost_to_retries == pytest.approx(2.49994)


def test_go_resolver_uses_two_sockets(tmp_path: Path) -> None:
    name = "api.example.com"
    _, lk = run(
        tmp_path,
        [
            Q(0.0, 42000, 0x0101, name, "A"),
            Q(0.00003, 42001, 0x7E7E, name, "AAAA"),
            R(0.0009, 42000, 0x0101, name, "A", answer=A1),
            R(0.0010, 42001, 0x7E7E, name, "AAAA", answer=AAAA1),
        ],
    )
    assert len(lk) == 1
    assert (lk.iloc[0].resolver, lk.iloc[0].sockets) == ("go", 2)


def test_reopen_retry_from_a_new_socket_joins(tmp_path: Path) -> None:
    # single-request-reopen: after the AAAA is lost, it is asked again from a new socket
    name = "web.example.com"
    _, lk = run(
        tmp_path,
        [
            Q(0.0, 43000, 0x1234, name, "A"),
            R(0.0009, 43000, 0x1234, name, "A", answer=A1),
            Q(0.001, 43001, 0x9876, name, "AAAA"),
            Q(5.001, 43002, 0x9876, name, "AAAA"),
            R(5.002, 43002, 0x9876, name, "AAAA", answer=AAAA1),
        ],
    )
    assert len(lk) == 1
    assert (lk.iloc[0].sockets, lk.iloc[0].outcome) == (3, "answered")


def test_unanswered_lookup_times_out(tmp_path: Path) -> None:
    name = "gone.example.com"
    _, lk = run(
        tmp_path,
        [
            Q(0.0, 44000, 1, name, "A"),
            Q(5.0, 44000, 1, name, "A"),
            Q(20.0, 44001, 9, "other.example.com", "A"),
            R(20.001, 44001, 9, "other.example.com", "A", answer=A1),
        ],
    )
    by = lk.set_index("name")
    assert by.loc[name, "outcome"] == "timed_out"
    assert by.loc[name, "retransmissions"] == 1


def test_truncated_answer_and_tcp_retry_are_one_lookup() -> None:
    sample = (
        Path(__file__).resolve().parent.parent / "samples/crafted/search-list-and-tcp-fallback.pcap"
    )
    lk = lookups(pair(dnspcap.read_messages(sample)))
    big = lk[lk["name"] == "big.example.com"]
    assert len(big) == 1
    assert (big.iloc[0].queries, big.iloc[0].outcome) == (2, "answered")


def test_parallel_pairs_are_not_called_sequential(tmp_path: Path) -> None:
    _, lk = run(tmp_path, ndots_chain(0.0, 40000, "api.example.com", 0x1000))
    assert "in turn" not in lk.iloc[0].resolver_evidence


def test_a_name_within_the_cluster_domain_asked_as_it_is_after_its_search_chain(
    tmp_path: Path,
) -> None:
    # `svc.other.svc.cluster.local` has 4 dots: under ndots:5 the three search names come
    # first, then the name as it is. It ends with the search suffix svc.cluster.local, yet
    # it is the last step of this lookup, not step 1 of a lookup of `svc.other`.
    name = "svc.other.svc.cluster.local"
    ev = ndots_chain(0.0, 40000, name, 0x1000)
    ev += ndots_chain(2.0, 41000, "api.example.com", 0x3000)  # for the search list
    _, lk = run(tmp_path, ev)
    assert len(lk) == 2
    row = lk.set_index("name").loc[name]
    assert (row.final_name, row.outcome, row.queries, row.search_queries) == (
        name, "answered", 8, 6,
    )  # fmt: skip


def test_a_name_that_reads_as_two_search_steps_joins_the_open_lookup(tmp_path: Path) -> None:
    # `web.default` from a pod in `default`: first `web.default.default.svc.cluster.local`
    # (NXDOMAIN), then `web.default.svc.cluster.local`, which also reads as step 0 of `web`
    ev = ndots_chain(0.0, 40000, "api.example.com", 0x3000)  # for the search list
    first, second = "web.default.default.svc.cluster.local", "web.default.svc.cluster.local"
    ev += [
        Q(2.0, 42000, 0x10, first, "A"),
        R(2.0009, 42000, 0x10, first, "A", rcode=3),
        Q(2.001, 42001, 0x11, second, "A"),
        R(2.0019, 42001, 0x11, second, "A", answer=A1),
    ]
    _, lk = run(tmp_path, ev)
    web = lk[lk["final_name"] == second]
    assert len(web) == 1
    assert (web.iloc[0]["name"], web.iloc[0].queries) == ("web.default", 2)


def test_the_same_name_again_after_nxdomain_is_another_lookup(tmp_path: Path) -> None:
    # Lookup 1 gets NXDOMAIN for its first search name and resends that query at +5 s on
    # its socket (as glibc does when the other reply of a pair was lost); in between,
    # lookup 2, from another socket, asks the same first search name. A resolver does not
    # ask again what it was told: lookup 2 is its own lookup, the resend stays with 1.
    ev = ndots_chain(0.0, 40000, "api.example.com", 0x3000)  # for the search list
    n0 = "db.example.com.default.svc.cluster.local"
    n1 = "db.example.com.svc.cluster.local"
    ev += [
        Q(10.0, 43000, 0x20, n0, "A"),
        R(10.0009, 43000, 0x20, n0, "A", rcode=3),
        Q(10.5, 44000, 0x30, n0, "A"),  # lookup 2
        R(10.5009, 44000, 0x30, n0, "A", rcode=3),
        Q(10.501, 44001, 0x31, n1, "A"),
        R(10.5019, 44001, 0x31, n1, "A", answer=A1),
        Q(15.0, 43000, 0x20, n0, "A"),  # lookup 1's resend on its socket
        R(15.0009, 43000, 0x20, n0, "A", rcode=3),
        Q(15.001, 43001, 0x21, n1, "A"),
        R(15.0019, 43001, 0x21, n1, "A", answer=A1),
    ]
    _, lk = run(tmp_path, ev)
    db = lk[lk["name"] == "db.example.com"]
    assert len(db) == 2
    assert sorted(db["queries"].tolist()) == [2, 3]
    assert db.sort_values("start")["duration"].round(3).tolist() == [5.002, 0.002]


def test_a_rare_pair_of_suffixes_is_not_taken_into_the_search_list(tmp_path: Path) -> None:
    ev: list[Q | R] = []
    for k in range(12):
        ev += ndots_chain(k * 1.0, 40000 + 10 * k, f"api{k}.example.com", 0x1000 + 0x100 * k)
    # two lookups interleaving once: an NXDOMAIN for one name, then another name that
    # shares its leading labels
    ev += [
        Q(20.0, 45000, 0x40, "x.example.com.cluster.local", "A"),
        R(20.0009, 45000, 0x40, "x.example.com.cluster.local", "A", rcode=3),
        Q(20.001, 45001, 0x41, "x.example.com.ns-1.svc", "A"),
        R(20.0019, 45001, 0x41, "x.example.com.ns-1.svc", "A", answer=A1),
    ]
    t, _ = run(tmp_path, ev)
    assert infer_search_list(t) == {"10.244.1.17": list(SEARCH)}


# ---- the C pass against the plain Python one (tests/lookups_reference.py) ----------------


def _agree(tx: pd.DataFrame) -> None:
    lk = lookups(tx)
    got = [
        (str(c), n, list(t))
        for c, n, t in zip(lk["client"], lk["name"], lk["transactions_index"], strict=True)
    ]
    assert got == reference.lookups(tx)
    assert infer_search_list(tx) == reference.infer_search_list(tx)


SAMPLES = sorted(Path(__file__).resolve().parent.parent.glob("samples/**/*.pcap*"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_grouping_agrees_with_the_reference_on_samples(path: Path) -> None:
    _agree(pair(dnspcap.read_messages(path)))


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_captures(), ids=str)
def test_grouping_agrees_with_the_reference_on_corpus(path: Path) -> None:
    try:
        msgs = dnspcap.read_messages(path)
    except dnspcap.CaptureError:
        return
    _agree(pair(msgs))


_SUFFIXES = ("", ".ns-1.svc.cluster.local", ".svc.cluster.local", ".cluster.local")
_BASES = ("a", "a.ns-1", "a.ns-1.svc", "a.ns-1.svc.cluster.local", "b.example.com")
_event = st.tuples(
    st.integers(0, 2),  # client
    st.sampled_from(_BASES),
    st.sampled_from(_SUFFIXES),
    st.sampled_from(["A", "AAAA", "SRV"]),
    st.integers(40000, 40004),  # port
    st.sampled_from([0, 30, 60_000, 900_000, 2_500_000, 5_000_000, 12_000_000]),  # gap, us
    st.sampled_from(["answered", "answered", "unanswered", "pending"]),
    st.sampled_from(["NOERROR", "NXDOMAIN", "NXDOMAIN", "SERVFAIL"]),
    st.booleans(),  # tc
    st.integers(0, 2),  # ancount
    st.integers(1, 3),  # attempts
)


@settings(max_examples=300, deadline=None)
@given(events=st.lists(_event, max_size=60))
def test_grouping_agrees_with_the_reference_on_random_queries(
    events: list[tuple[int, str, str, str, int, int, str, str, bool, int, int]],
) -> None:
    t, rows = 1_764_000_000 * 10**9, []
    for client, base, suffix, qtype, port, gap, status, rcode, tc, ancount, attempts in events:
        t += gap * 1000
        answered = status == "answered"
        rows.append(
            {
                "client": f"10.0.0.{client}", "client_port": port, "id": port % 7,
                "qname": base + suffix, "qtype": qtype, "query_ts": t,
                "response_ts": t + 500_000 if answered else None, "attempts": attempts,
                "retry_gaps": [5.0] * (attempts - 1), "status": status,
                "rcode": rcode if answered else None, "tc": tc and answered,
                "ancount": ancount if answered else None,
                "transport": "tcp" if port == 40004 else "udp",  # TCP after a TC answer
            }
        )  # fmt: skip
    tx = pd.DataFrame(rows, columns=list(rows[0]) if rows else None)
    if tx.empty:
        return
    for col in ("client", "qname", "qtype", "status", "rcode", "transport"):
        tx[col] = tx[col].astype("category")
    for col in ("query_ts", "response_ts"):
        tx[col] = pd.to_datetime(tx[col], utc=True)
    tx["ancount"] = tx["ancount"].astype("UInt16")
    tx["retry_gaps"] = tx["retry_gaps"].astype(pd.ArrowDtype(pa.list_(pa.float64())))
    _agree(tx)


@pytest.mark.slow
def test_grouping_agrees_with_the_reference_on_a_synthetic_capture(tmp_path: Path) -> None:
    """The benchmark's traffic (benchmarks/make_capture.py): 3,000 pods, search chains,
    every resolver's retries, TCP after truncation."""

    path = tmp_path / "synthetic.pcap"
    make_capture(path, 60_000, 3)
    _agree(pair(dnspcap.read_messages(path)))


@settings(max_examples=200, deadline=None)
@given(codes=st.lists(st.integers(0, 6), max_size=80), extra=st.integers(0, 3))
def test_group_order_is_a_stable_sort(codes: list[int], extra: int) -> None:
    from dnspcap.native import group_order

    c = np.array(codes, np.int32)
    ngroups = (max(codes) + 1 if codes else 0) + extra
    assert group_order(c, ngroups).tolist() == np.argsort(c, kind="stable").tolist()


@pytest.mark.parametrize(("codes", "ngroups"), [([0, 3], 3), ([-1], 2), ([0], -1), ([0], 2**62)])
def test_group_order_checks_its_codes(codes: list[int], ngroups: int) -> None:
    from dnspcap.native import group_order

    with pytest.raises((ValueError, MemoryError)):
        group_order(np.array(codes, np.int32), ngroups)


_row = st.tuples(
    st.integers(0, 2),  # lookup
    st.integers(0, 1),  # name
    st.sampled_from(["A", "AAAA", "SRV"]),
    st.integers(40000, 40002),  # port
    st.integers(0, 65535),  # id
    st.integers(0, 8_000_000),  # first attempt, ns
    st.integers(0, 8_000_000),  # last attempt after it, ns
    st.one_of(st.none(), st.integers(0, 8_000_000)),  # response after the first attempt
    st.booleans(),  # tcp
)


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_row, max_size=30))
def test_sign_counts_are_those_of_every_a_aaaa_pair(
    rows: list[tuple[int, int, str, int, int, int, int, int | None, bool]],
) -> None:
    """The C pass counts the signs the A/AAAA pairs show as the rules say, pair by pair."""
    from dnspcap.grouping import table as lt

    lookup = np.array([r[0] for r in rows], np.int32)
    name = np.array([r[1] for r in rows], np.int32)
    qtypes = ["A", "AAAA", "SRV"]
    qtype = np.array([qtypes.index(r[2]) for r in rows], np.int32)
    port = np.array([r[3] for r in rows], np.uint16)
    msg_id = np.array([r[4] for r in rows], np.uint16)
    q_ns = np.array([r[5] for r in rows], np.int64)
    last_ns = q_ns + np.array([r[6] for r in rows], np.int64)
    nat = np.iinfo(np.int64).min
    r_ns = np.array([nat if r[7] is None else r[5] + r[7] for r in rows], np.int64)
    tcp = np.array([r[8] for r in rows], bool)
    none = np.zeros(0, np.int64)
    # (no lookup spans a timeout here: the retry signs are checked on Go's captures)
    counts = lt._sign_counts(
        lookup, name, qtype, qtypes, port, msg_id, q_ns, last_ns, r_ns, none, none, tcp,
        np.zeros(len(rows), bool), 3,
    )  # fmt: skip
    want = np.zeros_like(counts)
    sign = lt._SIGN_NAMES.index
    for x in np.flatnonzero(qtype == 0):
        for y in np.flatnonzero(qtype == 1):
            if (lookup[x], name[x]) != (lookup[y], name[y]):
                continue
            lk = lookup[x]
            first_r = r_ns[x] if q_ns[x] <= q_ns[y] else r_ns[y]
            after = first_r != nat and max(q_ns[x], q_ns[y]) > first_r
            dq, two = abs(q_ns[x] - q_ns[y]), port[x] != port[y]
            near = dq <= lt.PAIR_WINDOW_NS or (two and after and dq <= lt.TURN_WINDOW_NS)
            if near and tcp[x] == tcp[y]:
                d = (int(msg_id[x]) - int(msg_id[y])) % 65536
                if two:
                    kind = "reopen" if after else "two_sockets"
                elif tcp[x]:
                    kind = "tcp_pipelined"
                else:
                    kind = ("same_id" if d == 0 else "near_id"
                            if min(d, 65536 - d) <= lt.MUSL_ID_GAP else "random_id")  # fmt: skip
                want[sign(kind), lk] += 1
            if (
                port[x] == port[y]
                and abs(last_ns[x] - last_ns[y]) <= lt.TURN_WINDOW_NS
                and (
                    (r_ns[x] != nat and last_ns[y] > r_ns[x])
                    or (r_ns[y] != nat and last_ns[x] > r_ns[y])
                )
            ):
                want[sign("sequential"), lk] += 1
    assert counts.tolist() == want.tolist()


@pytest.mark.parametrize(
    ("rows", "lookup", "kind", "n_lk"),
    [([3], [0, 0], [0] * 7, 1), ([0], [4, 0], [0] * 7, 1), ([0], [0, 0], [9] * 7, 1),
     ([0], [0, 0], [0] * 6, 1), ([0], [0, 0], [0] * 7, -1)],
)  # fmt: skip
def test_lookup_signs_checks_its_indexes(
    rows: list[int], lookup: list[int], kind: list[int], n_lk: int
) -> None:
    from dnspcap.native import lookup_signs

    two, two32, two16 = np.zeros(2, np.int64), np.zeros(2, np.int32), np.zeros(2, np.uint16)
    with pytest.raises(ValueError):
        lookup_signs(
            np.array(rows, np.int32), np.ones(2, np.uint8), np.array(lookup, np.int32),
            two32, two, two, two, two16, two16, np.zeros(2, bool), 1, 1, 1,
            np.array(kind, np.int64), n_lk, 9,
        )  # fmt: skip


_query = st.tuples(
    st.integers(0, 3),  # lookup
    st.integers(0, 2),  # name
    st.integers(-5, 5),  # first attempt
    st.integers(-5, 5),  # last attempt
    st.one_of(st.none(), st.integers(-5, 5)),  # response
    st.integers(0, 255),  # states
    st.integers(0, 4),  # attempts
)


def _plain_sums(
    rows: list[tuple[int, int, int, int, int | None, int, int]], nlk: int, any_name: int
) -> list[list[int]]:
    """What lookup_sums adds up per lookup (a column of LK_N values each), row by row."""
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    out = []
    for lk in range(nlk):
        qs = [i for i, r in enumerate(rows) if r[0] == lk]
        if not qs:
            out.append([-1, -1, 0, big, small, small, 0, 0, 0, 0])
            continue
        final = [rows[i][1] == rows[qs[-1]][1] for i in qs]
        mine = [rows[i] for i in qs]
        seen = 0
        for r, f in zip(mine, final, strict=True):
            seen |= r[5] if f else r[5] & any_name
        out.append([
            qs[0], qs[-1], seen, min(r[2] for r, f in zip(mine, final, strict=True) if f),
            max(max(r[3], r[2] if r[4] is None else r[4]) for r in mine),
            max(r[3] for r in mine), sum(r[6] for r in mine),
            sum(r[6] for r, f in zip(mine, final, strict=True) if not f),
            sum(max(r[6] - 1, 0) for r in mine), len(qs),
        ])  # fmt: skip
    return out


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(_query, max_size=25), extra=st.integers(0, 2), data=st.data())
def test_lookup_sums_agree_with_a_plain_loop(
    rows: list[tuple[int, int, int, int, int | None, int, int]], extra: int, data: st.DataObject
) -> None:
    """The C pass adds up each lookup's queries as a loop over them would, the lookups in
    the order asked for (one without queries keeps first = last = -1)."""
    from dnspcap.grouping.table import LK_N
    from dnspcap.native import lookup_sums

    nlk = (max((r[0] for r in rows), default=-1) + 1) + extra
    order = data.draw(st.permutations(range(nlk)))
    nat = np.iinfo(np.int64).min

    def col(i: int) -> np.ndarray:
        return np.array([nat if r[i] is None else r[i] for r in rows], np.int64)

    sums = lookup_sums(
        col(0).astype(np.int32), col(1).astype(np.int32), col(2), col(3), col(4),
        col(5).astype(np.uint8), col(6).astype(np.int32), 0x80, np.array(order, np.int32),
    ).reshape(LK_N, nlk)  # fmt: skip
    want = _plain_sums(rows, nlk, 0x80)
    assert sums.T.tolist() == [want[k] for k in order]


@pytest.mark.parametrize(
    ("lookup", "order", "lengths", "any_name"),
    [([0, 2], [0, 1], 2, 1), ([0, -1], [0, 1], 2, 1), ([0, 1], [0, 2], 2, 1),
     ([0, 1], [0, 1], 3, 1), ([0, 1], [0, 1], 2, 256), ([0, 1], [0, 1], 2, -1)],
)  # fmt: skip
def test_lookup_sums_checks_its_arguments(
    lookup: list[int], order: list[int], lengths: int, any_name: int
) -> None:
    from dnspcap.native import lookup_sums

    some, some32 = np.zeros(lengths, np.int64), np.zeros(lengths, np.int32)
    with pytest.raises(ValueError):
        lookup_sums(
            np.array(lookup, np.int32), some32, some, some, some, np.zeros(lengths, np.uint8),
            some32, any_name, np.array(order, np.int32),
        )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(
    clients=st.lists(st.integers(0, 3), max_size=40),
    times=st.lists(st.integers(0, 5), max_size=40),
    in_order=st.booleans(),
)
def test_queries_by_client_then_time(clients: list[int], times: list[int], in_order: bool) -> None:
    """The counting sort taken for rows in time order is the lexsort it stands in for."""
    from dnspcap.grouping.join import _by_client

    n = min(len(clients), len(times))
    client = np.array(clients[:n], np.int32)
    ts = np.array(sorted(times[:n]) if in_order else times[:n], np.int64)
    assert _by_client(client, 4, ts).tolist() == np.lexsort((ts, client)).tolist()
