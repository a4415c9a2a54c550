"""DNS007 forwarding-loop: the same question asked again and again, nothing answered.

**What it detects.** One question (name and type) asked at least ``loop_min_queries``
times at ``loop_min_rate`` queries per second or more, with no answer.

**Why it matters.** A DNS server forwarding to itself (CoreDNS ``forward . /etc/resolv.conf``
on a node whose resolv.conf points at systemd-resolved's 127.0.0.53: the article on
kube-dns failing after a while, see docs/wire-patterns.md) amplifies every query into a
storm until the CoreDNS ``loop`` plugin kills the pod
(CrashLoopBackOff). The lab measured ~60,000 packets/s, one ID seen 900-1,800 times
in 50 ms.

**Wire pattern.** ``Q name`` × hundreds within a second; the ``loop`` plugin's probe
is ``<random>.<random>.<zone> HINFO``.

**Known false positives.** A client stuck in a tight retry loop without a timeout.

**Fix.** Point kubelet's ``--resolv-conf`` at ``/run/systemd/resolve/resolv.conf``, or
forward CoreDNS to a real upstream address instead of ``/etc/resolv.conf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..finding import Finding
from ..registry import Option, detector
from ..scan import LOOKUP, ROW, Scan
from ._evidence import EVIDENCE_TRANSACTIONS, evidence_of, frame_table
from ._util import STORM, ns, question_sums, quiet_rows, storm_questions

MIN_QUERIES = STORM
MIN_RATE = Option("loop_min_rate", 100.0, "queries/s; resolvers retry every 1-5 s")
QUESTION = ["qname", "qtype"]


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """One finding for the questions asked in a storm with no answer."""
    storms = storm_questions(s.table("questions"), opts["loop_min_queries"])
    if not len(storms):
        return []
    n_all = storms["attempts"].to_numpy(np.int64)
    span_all = np.maximum(
        (storms["last"].to_numpy(np.int64) - storms["first"].to_numpy(np.int64)) / 1e9, 1e-3
    )
    fast = n_all / span_all >= opts["loop_min_rate"]
    if not fast.any():
        return []
    loops_t = storms[fast].reset_index(drop=True)
    loops: list[tuple[str, int, float, float]] = []  # question, queries, span, rate
    for qname, qtype, k, first, last in zip(
        *(loops_t[c] for c in ("qname", "qtype", "attempts", "first", "last")), strict=True
    ):
        span = max(float(int(last) - int(first)) / 1e9, 1e-3)
        loops.append((f"{qname} {qtype}", int(k), span, int(k) / span))
    rows = s.table("rows")
    which = _question_of(rows, loops_t)  # per candidate row, its loop (-1: none)
    shown = rows[which >= 0]
    shown = shown.take(np.lexsort((shown[ROW].to_numpy(), which[which >= 0])))
    looped, victims = _lookups(s.table("named"), s.table("senders"), loops_t)
    n = sum(x[1] for x in loops)
    what = "; ".join(
        f"{question} asked {k:,} times in {span:.3f} s ({rate:,.0f}/s)"
        for question, k, span, rate in loops[:3]
    ) + (f"; and {len(loops) - 3} more questions" if len(loops) > 3 else "")
    named = s.table("named")
    hit = np.unique(named[LOOKUP].to_numpy(np.int64)[looped]) if len(named) else np.zeros(0)
    lost = named["duration"].to_numpy()[looped & victims].sum() if len(named) else 0.0
    return [
        Finding(
            code="DNS007",
            name="forwarding.loop",
            severity="critical",
            confidence="high",
            summary=f"{what}, never answered: a forwarding loop",
            **_evidence(shown, s.table("frames")),
            occurrences=n,
            seen=n,
            lookups=tuple(np.asarray(hit, np.int64).tolist()),
            seconds_lost=round(float(lost), 6),
            remediation=(
                "Point kubelet --resolv-conf at /run/systemd/resolve/resolv.conf, or make "
                "CoreDNS forward to a real upstream instead of /etc/resolv.conf (127.0.0.53)."
            ),
            details={"questions": {q: _facts(k, sp, r) for q, k, sp, r in loops}},
        )
    ]


def _facts(queries: int, span: float, rate: float) -> dict[str, float]:
    return {"queries": queries, "span_s": round(span, 6), "rate_per_s": round(rate, 1)}


def _question_of(table: pd.DataFrame, loops: pd.DataFrame) -> np.ndarray:
    """Per row of a table with qname and qtype, the position of its question in loops
    (-1: not a loop)."""
    if not len(table):
        return np.zeros(0, np.int64)
    keys = pd.MultiIndex.from_arrays([loops["qname"].astype(str), loops["qtype"].astype(str)])
    mine = pd.MultiIndex.from_arrays([table["qname"].astype(str), table["qtype"].astype(str)])
    return np.asarray(keys.get_indexer(mine), np.int64)


def _lookups(
    named: pd.DataFrame, senders: pd.DataFrame, loops: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of named (the lookups of names asked unanswered in their part): whether
    it is a lookup of a looping name while it looped, and whether it is not a
    forwarder's in any loop (each forwarder sends a good share of the storm; the clients
    that waited for an answer do not)."""
    looped = np.zeros(len(named), bool)
    victims = np.ones(len(named), bool)
    if not len(named):
        return looped, victims
    final = named["final_name"].astype(str).to_numpy()
    start, end = named["start"].to_numpy(np.int64), named["end"].to_numpy(np.int64)
    client = named["client"].astype(str)
    which = _question_of(senders, loops)
    for i, (qname, first, last) in enumerate(
        zip(loops["qname"].astype(str), loops["first"], loops["last"], strict=True)
    ):
        looped |= (final == qname) & (start <= int(last)) & (end >= int(first))
        sent = senders[which == i].groupby("client", observed=True)["attempts"].sum()
        forwarders = set(sent[sent > 0.1 * sent.sum()].index.astype(str))
        victims &= ~client.isin(forwarders).to_numpy()
    return looped, victims


def _evidence(shown: pd.DataFrame, frames: pd.DataFrame) -> dict[str, Any]:
    """The evidence of these rows (in the order the old detector listed them: by loop,
    then by row): who and when of all, the frames of the first EVIDENCE_TRANSACTIONS."""
    who = shown.reset_index(drop=True)
    head = who[ROW].to_numpy(np.int64)[:EVIDENCE_TRANSACTIONS]
    framed = frames[np.isin(frames[ROW].to_numpy(np.int64), head)] if len(frames) else frames
    out = evidence_of(Scan({"e": who}), "e")
    out["evidence_frames"] = evidence_of(
        Scan({"e": who[np.isin(who[ROW].to_numpy(np.int64), head)], "e_frames": framed}), "e"
    )["evidence_frames"]
    return out


@detector("DNS007", "forwarding.loop", "critical", [MIN_QUERIES, MIN_RATE], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """Per question, its attempts, answers and span (a storm is decided over all clients:
    by the judge); and for the questions unanswered here, which may be storms: their
    asked rows with their frames, each client's attempts, and the lookups of their names."""
    questions = question_sums(tx)
    quiet = questions[questions["responses"].to_numpy() == 0]
    cand = quiet_rows(tx, quiet)
    cols = ["client", "server", "query_ts", "response_ts", "qname", "qtype", "attempts"]
    rows = tx[cols].iloc[cand].reset_index(drop=True)
    rows.insert(0, ROW, np.asarray(tx.index[cand], np.int64))
    senders = rows.groupby(["qname", "qtype", "client"], observed=True, sort=False)[
        "attempts"
    ].sum().reset_index()  # fmt: skip
    tables = {
        "questions": questions,
        "rows": rows.drop(columns="attempts"),
        "frames": frame_table(tx, rows[ROW].to_numpy()),
        "senders": senders,
        # NOT EXACT in one case: a lookup of a looping name whose part asked no question
        # of that name unanswered (only its answered AAAA, say, while the A looped in
        # other parts' clients) is left out of the lookups (detect() on the whole counts
        # it); keeping every lookup of every name would copy the lookups table
        "named": _named(lookups, set(quiet["qname"].astype(str))),
    }
    return Scan(tables=tables)


def _named(lookups: pd.DataFrame, names: set[str]) -> pd.DataFrame:
    """The lookups of these names: position, name, client, start, end (ns) and duration."""
    if lookups.empty or not names:
        return pd.DataFrame(
            {LOOKUP: np.zeros(0, np.int64), "final_name": [], "client": [],
             "start": np.zeros(0, np.int64), "end": np.zeros(0, np.int64),
             "duration": np.zeros(0)}
        )  # fmt: skip
    codes, uniques = pd.factorize(lookups["final_name"])  # each name decided once
    texts = pd.Index(np.asarray(uniques.astype(str), object), dtype=object)  # hashed
    at = np.flatnonzero(np.append(texts.isin(np.asarray(list(names), object)), False)[codes])
    start = ns(lookups["start"])[at]
    duration = lookups["duration"].to_numpy()[at]
    return pd.DataFrame(
        {LOOKUP: at.astype(np.int64), "final_name": lookups["final_name"].to_numpy()[at],
         "client": lookups["client"].array.take(at), "start": start,
         "end": start + (duration * 1e9).astype(np.int64), "duration": duration}
    )  # fmt: skip
