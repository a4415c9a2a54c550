"""DNS006 upstream-unreachable: a DNS server that does not answer.

**What it detects.** Three signatures, each one finding:

- *refused*: queries answered by an ICMP destination-unreachable error quoting them
  (kube-proxy rejects traffic to a Service without endpoints with port unreachable;
  a DNS pod that is gone answers so too);
- *dead nameserver*: a server that answered nothing in the whole capture while others
  answered, with conclusive evidence even in a one-lookup capture: a client asked it,
  got nothing, and after a timeout asked the next nameserver (glibc and Go fail over in
  turn: the failover delay is reported per lookup); or the same question went to another
  server at once and was answered there (musl asks every nameserver at once); or its
  queries timed out (resent, or the capture went on a timeout past them), at least
  ``unreachable_min_queries`` of them;
- *outage*: nothing answered at all, and the queries' own retries (or the capture going
  on past their timeout) prove they timed out: every lookup failed.

**Why it matters.** Every resolver that tries a dead server first waits a full timeout
before the next nameserver (glibc: 5 s, or ``timeout``; Go: 5 s per try; musl asks all
at once and does not wait, but keeps asking). The Tencent Cloud TKE team's article "DNS 解析异常":
a retired nameserver left in the node's resolv.conf, which pods inherit with
``dnsPolicy: Default`` and CoreDNS's ``forward`` keeps probing.

**Wire pattern.** Queries to one address, no responses from it; then the same question
to the next address after 2-5 s (new port, same IDs for glibc; new ports and IDs for
Go), or at once (musl).

**Known false positives.** A capture that only sees one direction of that server's
traffic.

**Fix.** Remove the dead address from the node's ``/etc/resolv.conf`` (kubelet
``--resolv-conf``) or CoreDNS's ``forward``; check the Service has endpoints
(``kubectl get endpoints -n kube-system kube-dns``) and that the DNS pods are Ready.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...arrays.categorical import as_categorical
from ...pairing.windows import RETRY_MIN_GAP_S
from ..finding import Finding
from ..registry import Option, detector
from ..scan import LOOKUP, ROW, Scan
from ._evidence import (
    evidence_of,
    evidence_tables,
    frame_table,
    lookup_table,
    lookups_in,
    unique_ints,
)
from ._util import (
    STORM,
    key_sums,
    lookup_of,
    ns,
    plural,
    question_sums,
    retry_table,
    storm_questions,
    tallied,
    tally,
    top,
)

MIN = Option("unreachable_min_queries", 3, "three unanswered tries rule out one lost packet")


# The judge: what spans clients (a server's answers, queries and retries; a question's
# storm) is decided here, over the rows and sums of all parts.


def judge(s: Scan, opts: Mapping[str, float]) -> list[Finding]:
    """Servers refusing with ICMP; servers that never answer (dead nameservers); and the
    outage when nothing answers at all."""
    out, refused = _refused_by_icmp(s)
    rows = s.table("silent")
    if len(rows):
        rows = rows[~_storm_rows(rows, s.table("questions"))]
    answered = s.table("answered")
    anything = bool(len(answered))
    if not len(rows):
        return out
    server = rows["server"].astype(str).to_numpy()
    gone = pd.Index(server).isin([*answered["key"], *refused])  # by hashing, not sorting
    rows, server = rows[~gone].reset_index(drop=True), server[~gone]
    if not len(rows):
        return out
    facts = _silences(rows, server, s, opts)
    dead = facts[facts["conclusive"] if anything else facts["timed_out"] > 0]
    if len(dead):
        out.append(_finding(s, rows, server, dead, anything))
    return out


def _storm_rows(rows: pd.DataFrame, questions: pd.DataFrame) -> np.ndarray:
    """Per candidate row, whether its question is a storm (left to DNS007)."""
    storms = storm_questions(questions, STORM.default)
    if not len(storms):
        return np.zeros(len(rows), bool)
    keys = pd.MultiIndex.from_arrays([storms["qname"].astype(str), storms["qtype"].astype(str)])
    mine = pd.MultiIndex.from_arrays([rows["qname"].astype(str), rows["qtype"].astype(str)])
    return np.asarray(keys.get_indexer(mine) >= 0, bool)


def _silences(
    rows: pd.DataFrame, server: np.ndarray, s: Scan, opts: Mapping[str, float]
) -> pd.DataFrame:
    """Per silent server (in the order of its first query): its queries (packets sent,
    with resends), its queries the clients showed timed out (asked again), its failovers,
    its queries another server answered at about once, and whether that is conclusive."""
    codes, names = pd.factorize(server)  # in row order: the order of first queries
    n = len(names)
    queries = np.bincount(codes, rows["attempts"].to_numpy(np.int64), n).astype(np.int64)
    parallel = np.bincount(codes, rows["parallel"].to_numpy(np.int64), n).astype(np.int64)
    at = pd.Index(names)
    retried = s.table("timed_out")
    timed_out = np.zeros(n, np.int64)
    if len(retried):
        where = at.get_indexer(retried["key"].astype(str))
        np.add.at(timed_out, where[where >= 0], retried["n"].to_numpy(np.int64)[where >= 0])
    moves = s.table("moves")
    failovers = np.zeros(n, np.int64)
    if len(moves):
        where = at.get_indexer(moves["server"].astype(str))
        failovers = np.bincount(where[where >= 0], minlength=n).astype(np.int64)
    enough = queries >= opts["unreachable_min_queries"]
    return pd.DataFrame(
        {"server": np.asarray(names, object), "queries": queries, "timed_out": timed_out,
         "failovers": failovers, "parallel": parallel,
         "conclusive": (failovers > 0) | (parallel > 0) | (timed_out > 0) | enough}
    )  # fmt: skip


def _finding(
    s: Scan, rows: pd.DataFrame, server: np.ndarray, dead: pd.DataFrame, anything: bool
) -> Finding:
    order = np.argsort(-dead["queries"].to_numpy(), kind="stable")
    names = [str(x) for x in dead["server"].to_numpy()[order]]
    queries_of = dict(zip(names, dead["queries"].to_numpy()[order].tolist(), strict=True))
    g = rows[pd.Index(server).isin(names)]
    queries = len(g)
    sent = int(dead["queries"].sum())
    timed_out = int(dead["timed_out"].sum())
    moves = _moves(s.table("moves"), list(dead["server"]))
    lk = s.table("lk")
    hit = unique_ints(
        np.concatenate([g[LOOKUP].to_numpy(np.int64), moves[LOOKUP].to_numpy(np.int64)])
    )
    hit = hit[hit >= 0]
    mine = lk[np.isin(lk[LOOKUP].to_numpy(np.int64), hit)] if len(lk) else lk
    failed = int(mine["failed"].sum()) if len(mine) else 0
    who = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    clients = g["client"].nunique()
    if not anything:
        summary = (
            f"nothing answered: {who} answered none of {plural(queries, 'query', 'queries')} "
            f"from {plural(clients, 'client')} ({sent} sent, with the resends); the clients "
            f"asked {timed_out} of them again after their timeout: {failed} of "
            f"{plural(len(hit), 'lookup')} failed"
        )
        lost = float(mine["duration"].to_numpy().sum()) if len(hit) else 0.0
    else:
        summary = f"{who} never answered: {plural(queries, 'query', 'queries')} from " + (
            f"{plural(clients, 'client')} went unanswered while other servers answered"
        )
        if len(moves):
            per_lookup = moves.groupby(LOOKUP)["gap_s"].max()
            to = moves["to_server"].astype(str).value_counts().index[0]
            summary += (
                f"; {plural(len(per_lookup), 'lookup')} waited {np.median(per_lookup):.1f} s "
                f"for it before failing over to {to}"
            )
        parallel = int(dead["parallel"].sum())
        if parallel:
            summary += (
                f"; {parallel} of its questions went to another server at the same time, "
                "which answered (as musl asks every nameserver: nobody waited for it)"
            )
        lost = float(moves.groupby(LOOKUP)["gap_s"].max().sum()) if len(moves) else 0.0
    delays = _delays(lk, moves)
    # the evidence shows the failovers too; the servers it names are the silent ones
    after = s.table("after")
    if len(moves):
        moved = unique_ints(moves["after_row"].to_numpy(np.int64))
        after = after[np.isin(after[ROW].to_numpy(np.int64), moved)]
    else:
        after = after.iloc[:0]
    cols = [ROW, "client", "query_ts", "response_ts"]
    shown = pd.concat([g[cols], after[cols]], ignore_index=True)
    shown["server"] = ""
    evidence = evidence_of(Scan({"e": shown, "e_frames": s.table("frames")}), "e")
    return Finding(
        code="DNS006",
        name="upstream.unreachable",
        severity="error",
        confidence="high" if queries >= 3 or len(moves) else "medium",
        summary=summary,
        **(evidence | {"servers": tuple(sorted(names))}),
        occurrences=queries,
        seen=queries,
        lookups=tuple(hit.tolist()),
        seconds_lost=round(lost, 6),
        remediation=(
            f"Remove {names[0]} from the node's /etc/resolv.conf (kubelet --resolv-conf) or "
            "from CoreDNS's forward list; if it is the DNS Service, check it has endpoints "
            "(`kubectl get endpoints -n kube-system kube-dns`) and that the DNS pods are Ready."
            if anything
            else f"Nothing answered: check that {names[0]} is reachable from the pods (a "
            "NetworkPolicy, the node's firewall or conntrack table), that the DNS Service "
            "has endpoints and that the DNS pods are Ready."
        ),
        details={
            "signature": "dead nameserver" if anything else "outage",
            "servers": queries_of,
            "timed_out": timed_out,
            "failover_delay_s": round(float(np.median(list(delays.values()))), 3)
            if delays
            else 0.0,
            "failover_delay_per_lookup_s": delays,
        },
    )


def _moves(moves: pd.DataFrame, dead: list[Any]) -> pd.DataFrame:
    """The failovers from the dead servers: theirs in the order of the servers, each's in
    the order of the retries table."""
    if not len(moves):
        return moves
    rank = pd.Index(dead).get_indexer(moves["server"].astype(str))
    keep = np.flatnonzero(rank >= 0)
    keep = keep[np.argsort(rank[keep], kind="stable")]
    return moves.take(keep).reset_index(drop=True)


def _delays(lk: pd.DataFrame, moves: pd.DataFrame) -> dict[str, float]:
    """How long each lookup (its name and client) waited before it failed over."""
    if moves.empty:
        return {}
    wait = moves.groupby(LOOKUP)["gap_s"].max()
    facts = lk.drop_duplicates(LOOKUP).set_index(LOOKUP).reindex(wait.index)
    who = facts["name"].astype(str).to_numpy() + " from " + facts["client"].astype(str).to_numpy()
    out: dict[str, float] = {}
    for k, v in zip(who.tolist(), wait.to_numpy().tolist(), strict=True):
        out[k if k not in out else f"{k} #{len(out) + 1}"] = round(float(v), 3)
    return out


def _refused_by_icmp(s: Scan) -> tuple[list[Finding], list[str]]:
    """One finding for the queries that drew ICMP destination-unreachable errors, and the
    servers that did."""
    n = int(s.count("refused"))
    if not n:
        return [], []
    servers = tallied(s.table("refused_servers"))
    reasons = tallied(s.table("reasons"))
    asked = s.table("asked")
    total = int(asked["n"].to_numpy()[asked["key"].isin(servers.index).to_numpy()].sum())
    where = servers.index[0] if len(servers) == 1 else top(servers)
    finding = Finding(
        code="DNS006",
        name="upstream.unreachable",
        severity="error",
        confidence="high",
        summary=(
            f"{n} of {total} queries to {where} drew ICMP {reasons.index[0]}: "
            "nothing listens on port 53 there (a Service without endpoints, or the "
            "DNS pod gone); glibc fails at once, musl waits out its timeout"
        ),
        **evidence_of(s, "refused_evidence"),
        occurrences=n,
        seen=total,
        lookups=lookups_in(s, "refused_lookups"),
        seconds_lost=0.0,
        remediation=(
            f"Check that {servers.index[0]} has endpoints (`kubectl get endpoints -n "
            "kube-system kube-dns`) and that the DNS pods are Ready; remove a dead address "
            "from resolv.conf or CoreDNS's forward list."
        ),
        details={"signature": "refused", "icmp": reasons.to_dict(), "servers": servers.to_dict()},
    )
    return [finding], [str(x) for x in servers.index]


# The scan: what one part's clients show, per row, retry and lookup; per server and per
# question only sums.


@detector("DNS006", "upstream.unreachable", "error", [MIN], judge=judge)
def scan(tx: pd.DataFrame, lookups: pd.DataFrame, opts: Mapping[str, float]) -> Scan:
    """The queries refused with ICMP; per server its queries and answers; per question its
    sums (storms are decided over all clients); and the queries, retries and lookups of
    the servers that answered nothing here and refused nothing here (the candidates)."""
    asked_at = np.flatnonzero(tx["attempts"].to_numpy() > 0)
    asked = tx[["server", "icmp"]].iloc[asked_at]  # two columns taken, not all
    labels = np.asarray(tx.index[asked_at], np.int64)
    tables: dict[str, pd.DataFrame] = {
        "asked": key_sums(asked["server"], np.ones(len(asked), np.int64)),
        "questions": question_sums(tx),
    }
    answers = key_sums(tx["server"], tx["responses"].to_numpy())
    tables["answered"] = answers[answers["n"].to_numpy() > 0].reset_index(drop=True)
    refusing = _refusing(asked["icmp"])
    hit = labels[refusing]
    counts: dict[str, float] = {"refused": len(hit)}
    if len(hit):
        tables |= evidence_tables(tx, hit, "refused_evidence")
        tables["refused_lookups"] = lookup_table(lookups, hit)
        tables["refused_servers"] = tally(asked["server"][refusing], hit)
        tables["reasons"] = tally(asked["icmp"][refusing], hit)
    # the candidates: servers that answered nothing and refused nothing in this part
    cat = as_categorical(tx["server"])
    codes = np.asarray(cat.codes, np.int64)
    k = len(cat.categories)
    known = codes >= 0
    quiet = np.bincount(codes[known], tx["responses"].to_numpy()[known], k) == 0
    acodes = codes[asked_at]
    quiet[np.unique(acodes[refusing & (acodes >= 0)])] = False
    mine = (acodes >= 0) & quiet[np.maximum(acodes, 0)]
    tables |= _candidates(tx, lookups, asked_at[mine], quiet)
    return Scan(tables=tables, counts=counts)


def _refusing(icmp: pd.Series) -> np.ndarray:
    """Per row, whether its ICMP error refuses the query (by category, not by row: a
    million rows of text cost more than the check)."""
    cat = as_categorical(icmp)
    cats = [str(c) for c in cat.categories]
    refused = np.array([c != "" and not c.startswith("response bounced") for c in cats] + [False])
    return np.asarray(refused[np.asarray(cat.codes)], bool)  # code -1 reads the last: False


def _candidates(
    tx: pd.DataFrame, lookups: pd.DataFrame, at: np.ndarray, quiet: np.ndarray
) -> dict[str, pd.DataFrame]:
    """The candidates' queries (``silent``), their retries after no answer (``timed_out``
    per server, the failovers in ``moves`` with the rows they moved to in ``after``), the
    lookups of both (``lk``) and their frames."""
    cols = ["server", "client", "qname", "qtype", "attempts", "query_ts", "response_ts"]
    rows = tx[cols].iloc[at]
    labels = np.asarray(tx.index[at], np.int64)
    lookup = lookup_of(rows, lookups)
    silent = pd.DataFrame(
        {ROW: labels, LOOKUP: lookup, "server": rows["server"].array,
         "client": rows["client"].array, "qname": rows["qname"].array,
         "qtype": rows["qtype"].array, "attempts": rows["attempts"].to_numpy(np.int64),
         "parallel": _answered_elsewhere(tx, lookups, at, lookup),
         "query_ts": rows["query_ts"].array, "response_ts": rows["response_ts"].array}
    )  # fmt: skip
    r = retry_table(tx, lookups)
    r = r[r["gap_s"].to_numpy() >= RETRY_MIN_GAP_S]
    rcodes = np.asarray(as_categorical(r["server"]).codes, np.int64)
    r = r[(rcodes >= 0) & quiet[np.maximum(rcodes, 0)]]
    once = r.drop_duplicates(["server", "before"])
    timed_out = key_sums(once["server"], np.ones(len(once), np.int64))
    f = r[(r["kind"] == "failover").to_numpy()]
    before = f["before"].to_numpy(np.int64)
    moves = pd.DataFrame(
        {ROW: before, LOOKUP: f["lookup"].to_numpy(np.int64), "gap_s": f["gap_s"].to_numpy(),
         "server": f["server"].array, "to_server": f["to_server"].array,
         "after_row": f["after"].to_numpy(np.int64)}  # a label: combine() renumbers it
    )  # fmt: skip
    moved = unique_ints(f["after"].to_numpy(np.int64))
    after = tx.loc[moved, ["client", "query_ts", "response_ts"]].reset_index(drop=True)
    after.insert(0, ROW, moved)
    return {
        "silent": silent,
        "timed_out": timed_out,
        "moves": moves,
        "after": after,
        "lk": _lookup_facts(lookups, np.concatenate([lookup, moves[LOOKUP].to_numpy()])),
        "frames": frame_table(tx, np.concatenate([labels, moved])),
    }


def _lookup_facts(lookups: pd.DataFrame, at: np.ndarray) -> pd.DataFrame:
    """Of these lookups (positions, -1 for none): whether each failed, how long it took,
    its name and client."""
    at = unique_ints(at[at >= 0])
    if lookups.empty:
        at = at[:0]
    outcome = as_categorical(lookups["outcome"]) if len(lookups) else pd.Categorical([])
    bad = np.isin(np.asarray(outcome.categories.astype(str)), ("timed_out", "failed"))
    codes = np.asarray(outcome.codes, np.int64)[at]
    return pd.DataFrame(
        {LOOKUP: at, "failed": (codes >= 0) & np.append(bad, False)[codes],
         "duration": lookups["duration"].to_numpy()[at] if len(lookups) else np.zeros(0),
         "name": lookups["name"].iloc[at].to_numpy() if len(lookups) else np.zeros(0, object),
         "client": lookups["client"].array.take(at) if len(lookups) else np.zeros(0, object)}
    )  # fmt: skip


def _answered_elsewhere(
    tx: pd.DataFrame, lookups: pd.DataFrame, at: np.ndarray, lookup: np.ndarray
) -> np.ndarray:
    """Per candidate query (positions at, in lookups lookup), how many answered queries
    of the same question in the same lookup were asked at about the same time: one
    question asked of several nameservers at once (musl), not a failover after a
    timeout."""
    out = np.zeros(len(at), np.int64)
    if lookups.empty or not len(at):
        return out
    ok_at = np.flatnonzero((tx["responses"].to_numpy() > 0) & (tx["attempts"].to_numpy() > 0))
    ok_lookup = lookup_of(tx[["attempts"]].iloc[ok_at], lookups)  # its index is what counts
    ok_at, ok_lookup = ok_at[ok_lookup >= 0], ok_lookup[ok_lookup >= 0]
    qname = np.asarray(as_categorical(tx["qname"]).codes, np.int64)
    qtype = np.asarray(as_categorical(tx["qtype"]).codes, np.int64)
    q = ns(tx["query_ts"])
    inside = np.flatnonzero(lookup >= 0)
    mine = pd.DataFrame(
        {"i": inside, "lookup": lookup[inside], "qname": qname[at[inside]],
         "qtype": qtype[at[inside]], "at": q[at[inside]]}
    )  # fmt: skip
    ok = pd.DataFrame(
        {"lookup": ok_lookup, "qname": qname[ok_at], "qtype": qtype[ok_at], "at_ok": q[ok_at]}
    )
    both = mine.merge(ok, on=["lookup", "qname", "qtype"])
    at_once = (both["at"] - both["at_ok"]).abs().to_numpy() < RETRY_MIN_GAP_S * 1e9
    np.add.at(out, both["i"].to_numpy()[at_once], 1)
    return out
