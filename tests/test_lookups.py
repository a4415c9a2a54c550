"""Grouping transactions into the lookups resolvers made (REFERENCE.md §2)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import dnspcap
from dnspcap.lookups import infer_search_list, lookups
from dnspcap.pairing import pair

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
