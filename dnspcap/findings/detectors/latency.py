"""DNS010 latency: slow answers, per server (p50, p99 and outliers).

**What it detects.** Servers whose answers take long: a 99th percentile above
``latency_p99_s`` (over at least ``latency_min_answers`` answers), or single answers
slower than ``latency_outlier_s``. The time is
from the last attempt to the answer, so resolver timeouts (DNS004) are not counted
twice.

**Why it matters.** Every lookup waits for it; a slow upstream behind CoreDNS, CPU
throttling of the DNS pods, or an overloaded node shows here first.

**Wire pattern.** ``Q`` … ``R`` with a large gap.

**Known false positives.** A capture taken on a loaded node can delay packets itself.

**Fix.** Look at the DNS pods' CPU limits and throttling, their upstream latency, and
NodeLocal DNSCache to answer from the node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...arrays.frames import COUNT, counted
from ..finding import Finding
from ..registry import Option, detector
from ..scan import LOOKUP, ROW, Scan
from ._evidence import (
    EVIDENCE_TRANSACTIONS,
    evidence_of,
    evidence_tables,
    frame_table,
    unique_ints,
)
from ._util import lookup_of, ns, rows

P99 = Option("latency_p99_s", 0.1, "CoreDNS answers from cache in well under 1 ms")
MIN_ANSWERS = Option("latency_min_answers", 20, "a 99th percentile of fewer answers means little")
OUTLIER = Option("latency_outlier_s", 1.0, "a second is felt by any client")

_NAT = np.iinfo(np.int64).min
_NEVER = np.iinfo(np.int64).max


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the servers with a slow tail: their percentiles over the answers
    of all parts."""
    stats = percentiles(s.table("rtt"), opts["latency_outlier_s"])
    if stats.empty:
        return []
    tail = stats["p99"] >= opts["latency_p99_s"]
    tail &= stats["answers"] >= opts["latency_min_answers"]
    stats = stats[tail | (stats["slow"] > 0)]
    if stats.empty:
        return []
    stats = stats.sort_values(["p99", "answers"], ascending=False)
    # what is shown is over the outlier, or at or over a p99 of at least latency_p99_s:
    # among the slow answers the parts kept
    cand = s.table("slow")
    servers = cand["server"].astype(str).to_numpy()
    mine = np.isin(servers, stats.index.astype(str))
    rtt = cand["rtt_last"].to_numpy(float)
    p99_of = stats["p99"].reindex(cand["server"]).to_numpy(float)
    # the evidence: the answers over a second, or else each server's slowest percent
    over = mine & (rtt > opts["latency_outlier_s"])
    if over.any():
        shown = cand[over]
        evidence = evidence_of(s, "over")
    else:
        shown = cand[mine & (rtt >= p99_of)]
        evidence = _tail_evidence(s, shown, stats["p99"])
    looked = shown[LOOKUP].to_numpy(np.int64)
    slow = int(stats["slow"].sum())
    answers = int(stats["answers"].sum())
    worst = stats.index[0]
    head = (
        f"{worst} answers slowly: p50 {stats['p50'].iloc[0] * 1000:.1f} ms, "
        f"p99 {stats['p99'].iloc[0] * 1000:.1f} ms over {int(stats['answers'].iloc[0])} answers"
    )
    if len(stats) > 1:
        head = (
            f"{len(stats)} servers answer slowly, worst {worst}: p99 "
            f"{stats['p99'].iloc[0] * 1000:.1f} ms over {int(stats['answers'].iloc[0])} answers"
        )
    return [
        Finding(
            code="DNS010",
            name="latency.slow_server",
            severity="warning",
            confidence="high" if answers >= 20 else "medium",
            summary=f"{head}; {slow} took over {opts['latency_outlier_s']:g} s",
            **evidence,
            occurrences=max(slow, 1),
            seen=answers,
            lookups=tuple(unique_ints(looked[looked >= 0]).tolist()),
            seconds_lost=round(float(shown["rtt_last"].sum()), 6),
            remediation=(
                "Check the DNS pods' CPU throttling and their upstream latency; NodeLocal "
                "DNSCache answers repeated names from the node."
            ),
            details={
                "p50_s": round(float(stats["p50"].iloc[0]), 6),
                "p99_s": round(float(stats["p99"].iloc[0]), 6),
                "answers": answers,
                "servers": {
                    str(s): {
                        "p50_s": round(float(r.p50), 6),
                        "p99_s": round(float(r.p99), 6),
                        "answers": int(r.answers),
                    }
                    for s, r in stats.head(20).iterrows()
                },
            },
        )
    ]


def percentiles(rtt: pd.DataFrame, outlier: float) -> pd.DataFrame:
    """Per server (in the order of a groupby's sorted groups): its answers, their p50
    and p99, and how many took over ``outlier`` seconds, from the answer times counted
    (``n``: how often each came, :func:`~dnspcap.arrays.frames.counted`) without
    repeating each: pandas' groupby quantile of the answers, its arithmetic to the bit
    (the order statistic at ``q * (n - 1)``, truncated, and the next one weighed by the
    fraction). A 10M capture's 5M answers: 0.03 s instead of 0.28 s."""
    if rtt.empty:
        return pd.DataFrame(columns=["answers", "p50", "p99", "slow"])
    by = rtt.groupby("server", observed=True, sort=True)
    group = by.ngroup().to_numpy(np.int64)
    value = rtt["rtt_last"].to_numpy(float)
    times = rtt[COUNT].to_numpy(np.int64) if COUNT in rtt.columns else np.ones(len(rtt), np.int64)
    order = np.lexsort((value, group))
    value, times, group = value[order], times[order], group[order]
    ends = np.cumsum(times)  # the answers, sorted by server and time: where each row ends
    answers = np.bincount(group, weights=times).astype(np.int64)
    starts = np.cumsum(answers) - answers
    cols: dict[str, Any] = {"answers": answers}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        at = q * (answers - 1).astype(np.float64)
        idx = at.astype(np.int64)  # truncated, as pandas does
        frac = np.fmod(at, 1.0)
        this = value[np.searchsorted(ends, starts + idx, side="right")]
        after = starts + np.minimum(idx + 1, answers - 1)
        following = value[np.searchsorted(ends, after, side="right")]
        cols[name] = np.where(frac == 0.0, this, this + (following - this) * frac)
    cols["slow"] = np.bincount(group, weights=times * (value > outlier)).astype(np.int64)
    return pd.DataFrame(cols, index=by.size().index)


def _tail_evidence(s: Scan, shown: pd.DataFrame, p99: pd.Series) -> dict[str, Any]:
    """The evidence fields of each slow server's answers at or over its p99 (``shown``),
    from the tail tables of the parts (see _tail_tables)."""
    cut = {str(k): float(v) for k, v in p99.items()}

    def at_or_over(t: pd.DataFrame) -> pd.DataFrame:
        limit = t["server"].astype(str).map(cut).to_numpy(float)  # NaN: not a slow server
        return t[t["rtt_last"].to_numpy(float) >= limit]

    # every part with a shown answer kept these tables
    clients = at_or_over(s.table("tail_clients"))["client"]
    first = at_or_over(s.table("tail_first"))["t"].to_numpy(np.int64)
    last = at_or_over(s.table("tail_last"))["t"].to_numpy(np.int64)
    head = unique_ints(shown[ROW].to_numpy(np.int64))[:EVIDENCE_TRANSACTIONS]
    frames = s.table("tail_frames")
    frames = frames[np.isin(frames[ROW].to_numpy(np.int64), head)] if len(frames) else frames
    out: dict[str, set[int]] = {}
    for file, frame in zip(frames.get("file", ()), frames.get("frame", ()), strict=True):
        out.setdefault(str(file), set()).add(int(frame))
    return {
        "clients": tuple(sorted({str(c) for c in clients.unique()})),
        "servers": tuple(sorted({str(c) for c in shown["server"].unique()})),
        "first": pd.Timestamp(int(first.min()), tz="UTC") if len(first) else None,
        "last": pd.Timestamp(int(last.max()), tz="UTC") if len(last) else None,
        "evidence_frames": {f: tuple(sorted(v)) for f, v in sorted(out.items())},
    }


@detector("DNS010", "latency.slow_server", "warning", [P99, OUTLIER, MIN_ANSWERS], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """Every answer's time with its server (``rtt``): a server's percentiles span
    clients, so the judge computes them over all parts. The answers that a finding may
    show (``slow``: over ``latency_outlier_s``, or at least ``latency_p99_s``, which a
    slow server's p99 is), with their rows and lookups; the evidence of those over the
    outlier, and, in a part with none, what the evidence of each server's slowest
    percent needs, whatever that percent turns out to be."""
    ok = rows(tx, tx["rtt_last"].notna().to_numpy(), ["server", "rtt_last"])
    if ok.empty:
        return Scan()
    labels = ok.index.to_numpy(np.int64)
    rtt = ok["rtt_last"].to_numpy(float)
    # counted: times to the microsecond repeat (a million answers, some ten thousand rows)
    table = counted(pd.DataFrame({"server": ok["server"].array, "rtt_last": rtt}))
    over = rtt > opts["latency_outlier_s"]
    maybe = over | (rtt >= opts["latency_p99_s"])
    cand = ok[maybe]
    slow = pd.DataFrame(
        {ROW: labels[maybe], LOOKUP: lookup_of(cand, lookups), "server": cand["server"].array,
         "rtt_last": rtt[maybe]}
    )  # fmt: skip
    tables = {"rtt": table, "slow": slow}
    if over.any():
        # the whole has answers over the outlier too: they are its evidence
        return Scan(tables={**tables, **evidence_tables(tx, labels[over], "over")})
    return Scan(tables={**tables, **_tail_tables(tx, cand)})


def _tail_tables(tx: pd.DataFrame, ok: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What the evidence of the answers at or over each server's p99 needs, for any p99
    (``ok``: the answers at or over the least p99 that makes a server slow):
    per server and client the slowest answer (``tail_clients``); in each server's
    answers from slowest to fastest, those that bring the earliest time yet
    (``tail_first``) and the latest (``tail_last``); and the frames of the answers that
    are among the first EVIDENCE_TRANSACTIONS (by label) of the answers as slow as they
    or slower (``tail_frames``): a superset of the first of any server's tail."""
    if ok.empty:
        return {}
    labels = ok.index.to_numpy(np.int64)
    rtt = ok["rtt_last"].to_numpy(float)
    server = ok["server"].array
    group = np.asarray(pd.factorize(server)[0], np.int64)
    order = np.lexsort((-rtt, group))
    g, r, lab = group[order], rtt[order], labels[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    q = ns(tx.loc[labels, "query_ts"])[order]
    a = ns(tx.loc[labels, "response_ts"])[order]
    lo = np.minimum(np.where(q == _NAT, _NEVER, q), np.where(a == _NAT, _NEVER, a))
    hi = np.maximum(q, a)
    new = np.zeros(len(g), bool)
    new[starts] = True
    by = pd.Series(g)
    cut = server.take(order)
    tables = {}
    for name, t, acc, none in (
        ("tail_first", lo, "cummin", _NEVER),
        ("tail_last", hi, "cummax", _NAT),
    ):
        run = getattr(pd.Series(t).groupby(by), acc)().to_numpy(np.int64)
        moved = new | np.r_[True, run[1:] != run[:-1]]
        keep = moved & (run != none)
        tables[name] = pd.DataFrame({"server": cut[keep], "rtt_last": r[keep], "t": run[keep]})
    clients = pd.DataFrame({"server": server, "client": tx.loc[labels, "client"].array,
                            "rtt_last": rtt})  # fmt: skip
    tables["tail_clients"] = (
        clients.groupby(["server", "client"], observed=True)["rtt_last"].max().reset_index()
    )
    tables["tail_frames"] = frame_table(tx, lab[_first_ever(lab, starts, len(g))])
    return tables


def _first_ever(lab: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Per row (groups from ``starts``, each in the order their tails grow), whether it may
    be among the first EVIDENCE_TRANSACTIONS labels of its group's rows up to it: all the
    first ones, then, in spans doubling in length, those below the EVIDENCE_TRANSACTIONS-th
    smallest label before the span (about EVIDENCE_TRANSACTIONS per span)."""
    k = EVIDENCE_TRANSACTIONS
    keep = np.zeros(n, bool)
    ends = np.r_[starts[1:], n]
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        keep[lo : min(hi, lo + k)] = True
        b = lo + k
        while b < hi:
            nb = min(hi, lo + 2 * (b - lo))
            limit = np.partition(lab[lo:b], k - 1)[k - 1]
            keep[b:nb] = lab[b:nb] < limit
            b = nb
    return keep
