"""What a report says of the tables (counts, the clients table, the capture's span), as a
scan: made of a part of the tables and combined with the other parts' as the detectors'
scans are (:mod:`dnspcap.findings.scan`), so that a report needs the tables of no part
once its scan is made (a cluster's workers keep theirs).

Per client, everything is the client's own (its lookups, durations, usual resolver):
parts hold whole clients. What spans clients (the servers, the round-trip times a
percentile is taken of) is kept as rows the whole's summary reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical, marked, used_categories
from ..arrays.frames import expanded
from ..findings.scan import LOOKUP, Scan
from ..pairing.sightings import vantage_info
from . import plotdata

NAME = "report"  # its name among a part's scans (no detector code looks like it)
FAILED = plotdata.FAILURES  # the outcomes of a failed lookup


BY_LOOKUP = plotdata.BY_LOOKUP  # the clients table's lookups (and the timeline's)
BY_LOOKUP_COLUMNS = ["client", "resolver", "outcome", "duration", "time_lost_to_retries",
                     "start", "retransmissions"]  # fmt: skip


def summarize(
    messages: pd.DataFrame, tx: pd.DataFrame, lk: pd.DataFrame, *, whole_clients: bool = True
) -> Scan:
    """The summary scan of these tables (a part's, or the whole capture's). Parts that
    hold whole clients keep a row per client; parts that split them (a watch's, cut in
    time) keep the columns of every lookup that the clients table is made of."""
    if whole_clients or not len(lk):
        per_client = {"clients": clients(lk)}
    else:
        rows = lk[BY_LOOKUP_COLUMNS].copy(deep=False)
        rows[LOOKUP] = np.arange(len(lk))
        per_client = {BY_LOOKUP: rows}
    dns = bool((messages["service"] == "dns").any()) if len(messages) else False
    span = pd.DataFrame({"first": [messages["ts"].min()], "last": [messages["ts"].max()]})
    plots, plot_counts = plotdata.tables(tx, lk, whole_clients=whole_clients)
    servers = pd.Series(used_categories(tx["server"])) if len(tx) else pd.Series([], dtype=object)
    return Scan(
        tables={
            **per_client,
            "servers": pd.DataFrame({"server": servers.astype(str).to_numpy(object)}),
            "rtt": plotdata.rtt_table(tx),
            "files": pd.DataFrame({"file": _files(messages)}),
            "span": span if len(messages) else pd.DataFrame(),
            "links": pd.DataFrame(
                tx.attrs.get("dnspcap", {}).get("vantage_links", []),
                columns=["a", "b", "near", "offset"],
            ),
            **plots,
        },
        counts={
            "messages": len(messages),
            "dns": int(dns),
            "transactions": len(tx),
            "answered": int((tx["status"] == "answered").sum()) if len(tx) else 0,
            "lookups": len(lk),
            "failed": int(lk["outcome"].isin(list(FAILED)).sum()) if len(lk) else 0,
            **plot_counts,
        },
    )


def _files(messages: pd.DataFrame) -> np.ndarray:
    if not len(messages):
        return np.zeros(0, object)
    return np.asarray(used_categories(messages["file"]).astype(str), object)


def _times(rtt: pd.DataFrame) -> np.ndarray:
    """Every round-trip time of the summary's counted table, each as often as it came."""
    if "rtt" not in rtt.columns:
        return np.zeros(0)
    return expanded(rtt, ["rtt"])["rtt"].to_numpy(np.float64)


def _column(scan: Scan, table: str, column: str) -> pd.Series:
    t = scan.table(table)
    return t[column] if column in t.columns else pd.Series([], dtype=object)


@dataclass(frozen=True)
class Summary:
    """The whole's summary, read out of the combined scan."""

    messages: int
    has_dns: bool
    transactions: int
    answered: int
    lookups: int
    failed: int
    clients: pd.DataFrame  # per client (index): resolver, lookups, failed, nxdomain, ...
    servers: int
    rtt: np.ndarray
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    links: list[list[Any]]  # what the vantage points' links say (pairing.sightings)
    files: int  # the files DNS messages came from
    plots: plotdata.Plots  # what the figures are drawn from

    def offsets(self, vantages: list[str]) -> dict[str, float]:
        """Each vantage point's clock offset from the first on the queries' path (s)."""
        return dict(vantage_info(self.links, vantages)["clock_offsets_s"])

    @classmethod
    def of(cls, scan: Scan) -> Summary:
        span = scan.table("span")
        table = scan.table("clients")
        if BY_LOOKUP in scan.tables and len(scan.table(BY_LOOKUP)):  # in lookup order
            table = clients(scan.table(BY_LOOKUP))
        if len(table):
            table = table.drop(columns=LOOKUP).set_index("client")
        return cls(
            messages=int(scan.count("messages")),
            has_dns=bool(scan.count("dns")),
            transactions=int(scan.count("transactions")),
            answered=int(scan.count("answered")),
            lookups=int(scan.count("lookups")),
            failed=int(scan.count("failed")),
            clients=table,
            servers=int(_column(scan, "servers", "server").nunique()),
            rtt=_times(scan.table("rtt")),
            first=span["first"].min() if len(span) else None,
            last=span["last"].max() if len(span) else None,
            files=int(_column(scan, "files", "file").nunique()),
            plots=plotdata.Plots.of(scan),
            links=[
                [a, b, int(n), None if pd.isna(o) else float(o)]
                for a, b, n, o in scan.table("links").itertuples(index=False)
            ],
        )  # fmt: skip


def clients(lk: pd.DataFrame) -> pd.DataFrame:
    """Per client, in order of its first lookup (``lookup``): its usual resolver, its
    lookups, how many failed or got NXDOMAIN, their median and longest duration (ms), and
    the seconds lost to retries."""
    if not len(lk):
        return pd.DataFrame()
    # clients numbered in order of appearance, through the categories: a few thousand
    # texts, not a text per lookup
    cat = as_categorical(lk["client"])
    mine = np.asarray(cat.codes) >= 0  # a lookup without a client is in no client's row
    client, seen = pd.factorize(np.asarray(cat.codes)[mine])
    names = cat.categories.take(seen).astype(str)
    g = pd.DataFrame(
        {
            "failed": lk["outcome"].isin(list(FAILED)).to_numpy(),
            "nxdomain": (lk["outcome"] == "nxdomain").to_numpy(),
            "duration": lk["duration"].to_numpy(),
            "lost": lk["time_lost_to_retries"].to_numpy(),
        }
    )[mine].groupby(client)
    first = np.full(len(names), len(lk), np.int64)
    np.minimum.at(first, client, np.flatnonzero(mine))
    return pd.DataFrame(
        {
            "client": np.asarray(names, object),
            "resolver": usual(client, as_categorical(lk["resolver"])[mine], len(names)),
            "lookups": g.size().to_numpy(),
            "failed": g["failed"].sum().to_numpy(),
            "nxdomain": g["nxdomain"].sum().to_numpy(),
            "p50_ms": g["duration"].median().to_numpy() * 1000,
            "max_ms": g["duration"].max().to_numpy() * 1000,
            "lost": g["lost"].sum().to_numpy(),
            LOOKUP: first,
        }
    )


def usual(client: np.ndarray, resolver: pd.Categorical, clients: int) -> np.ndarray:
    """Each client's most common resolver (client codes 0..clients-1); a tie goes to the
    one its lookups showed first. What ``value_counts().index[0]`` of each client's
    resolvers gives, by counting every (client, resolver) pair at once."""
    kind = np.asarray(resolver.codes, np.int64)
    kinds = np.array([str(c) for c in resolver.categories], dtype=object)
    known = np.flatnonzero(kind >= 0)
    width = max(len(kinds), 1)
    pair = client[known].astype(np.int64) * width + kind[known]
    count = np.bincount(pair, minlength=clients * width)
    first = np.full(clients * width, len(kind), np.int64)  # first lookup of each pair
    np.minimum.at(first, pair, known)
    # per client: the most lookups, then the earliest first lookup
    score = (count * (len(kind) + 1) - first).reshape(clients, width)
    best = score.argmax(axis=1)
    out = np.full(clients, "nan", dtype=object)
    some = count.reshape(clients, width).max(axis=1, initial=0) > 0
    out[some] = kinds[best[some]]
    return out


def evidence_messages(messages: pd.DataFrame, frames: dict[str, set[int]]) -> pd.DataFrame:
    """The messages of these frames (per file), in the table's order: all a report shows
    of a part's messages table once its findings are known."""
    return messages[of_frames(messages, frames)]


def of_frames(messages: pd.DataFrame, frames: dict[str, set[int]]) -> np.ndarray:
    """Whether each message is in one of these frames (per file)."""
    keep = np.zeros(len(messages), bool)
    if not len(messages) or not frames:
        return keep
    cat = as_categorical(messages["file"])
    code = {str(c): i for i, c in enumerate(cat.categories)}
    files = np.asarray(cat.codes)
    frame = messages["frame"].to_numpy(np.int64)
    for file, wanted in frames.items():
        if file in code:
            mine = np.flatnonzero(files == code[file])
            hit = marked(frame[mine], np.fromiter(wanted, np.int64, len(wanted)))
            keep[mine[hit]] = True
    return keep


def frames_scanned(scans: dict[str, Scan]) -> dict[str, set[int]]:
    """Per file, every frame the scans' tables name (``file`` and ``frame`` columns): the
    frames any finding judged from them can show as its evidence, and more."""
    out: dict[str, set[int]] = {}
    for s in scans.values():
        for t in s.tables.values():
            if len(t) and "file" in t.columns and "frame" in t.columns:
                cat = as_categorical(t["file"])  # a few files: by code, not by text
                files = np.asarray(cat.codes)
                frames = t["frame"].to_numpy(np.int64)
                for code in np.unique(files):
                    file = str(cat.categories[code]) if code >= 0 else "nan"
                    out.setdefault(file, set()).update(frames[files == code].tolist())
    return out


def frames_wanted(found: Any) -> dict[str, set[int]]:
    """Per file, every evidence frame of these findings."""
    out: dict[str, set[int]] = {}
    for f in found:
        for file, frames in f.evidence_frames.items():
            out.setdefault(file, set()).update(frames)
    return out
