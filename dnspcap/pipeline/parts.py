"""A report made of parts: each part of the messages (whole clients) paired, grouped and
scanned on its own, the scans judged once (:mod:`dnspcap.findings.scan`).

:func:`analyze_part` is the map step (on a cluster's worker, or in turn in one process),
:func:`report_of_parts` the reduce: the same findings and the same report as the whole's.
A part's transactions and lookups are numbered as the whole's would be from where its
rows fall among all parts' (the first message's place in the whole's messages, a
lookup's start and client), and :func:`assemble` puts the parts' tables together into
the whole's when someone asks for them.

Client shares are exact where pairing is a client's own: one vantage point (a pod or a
node capture, before and after DNAT). With several vantage points, the order of the
points and their clocks' offsets are learnt from every client's copies together, so a
set of several vantage points is one part (:func:`shares`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..arrays.categorical import as_categorical, used_categories
from ..arrays.frames import concat
from ..findings.detection import judge_scans
from ..findings.detection import scan as scan_tables
from ..findings.scan import Part, combine, numbering
from ..grouping import lookups
from ..native import group_order
from ..pairing import SKEW_ALLOWANCE_S
from ..pairing.sightings import vantage_info
from ..pairing.transactions import pair_rows
from ..report import Findings, Report
from ..report.plotdata import Plots
from ..report.summary import NAME as SUMMARY
from ..report.summary import frames_wanted, summarize

Tables = tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]


@dataclass
class Analyzed:
    """One part analysed: its scans (small) and its three tables (where it was made)."""

    part: Part
    messages: pd.DataFrame
    transactions: pd.DataFrame
    lookups: pd.DataFrame
    positions: np.ndarray  # each message's place in the whole's messages


def analyze_part(
    messages: pd.DataFrame,
    *,
    positions: np.ndarray | None = None,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
    multicast: bool = False,
    summarized: Callable[[Part], None] | None = None,
) -> Analyzed:
    """One part's messages (whole clients; ``positions``: their places in the whole's
    messages, by default their index) paired, grouped and scanned by every detector and
    by the report's summary. ``multicast``: the messages hold mDNS/LLMNR too, which are
    not paired (as :func:`dnspcap.pipeline.analyze_messages`). ``summarized`` is given
    the part with only its summary's scan as soon as that is made, before the detectors
    scan (the figures' data: see :func:`dnspcap.pipeline.in_parts`)."""
    all_messages = messages
    places = where = np.asarray(messages.index if positions is None else positions, np.int64)
    if multicast:
        dns = np.flatnonzero((messages["service"] == "dns").to_numpy())
        messages, where = messages.take(dns), where[dns]
    tx, txn = pair_rows(messages, capture_end=capture_end, skew=skew, keep_rows=True)
    ts = messages["ts"].to_numpy("datetime64[ns]").view(np.int64)
    first = first_messages(ts, where, txn, len(tx))
    del txn
    lk = lookups(tx)
    start = lk["start"].to_numpy("datetime64[ns]").view(np.int64)
    row_keys = (ts[first], where[first])
    lookup_keys = (start, client_texts(lk["client"]))  # texts: parts' categories differ
    summary = summarize(all_messages, tx, lk)
    if summarized is not None:
        rows = int(tx.index.max()) + 1 if len(tx) else 0
        summarized(Part({SUMMARY: summary}, rows=rows, lookups=len(lk), row_keys=row_keys,
                        lookup_keys=lookup_keys))  # fmt: skip
    part = scan_tables(tx, lk, select=select, ignore=ignore, options=options)
    part.scans[SUMMARY] = summary
    part.row_keys, part.lookup_keys = row_keys, lookup_keys
    return Analyzed(part, all_messages, tx, lk, places)


def summary_part(part: Part) -> Part:
    """The part with only its summary's scan (what :func:`analyze_part` hands
    ``summarized``)."""
    return Part({SUMMARY: part.scans[SUMMARY]}, rows=part.rows, lookups=part.lookups,
                row_keys=part.row_keys, lookup_keys=part.lookup_keys)  # fmt: skip


def first_messages(ts: np.ndarray, where: np.ndarray, txn: np.ndarray, n: int) -> np.ndarray:
    """Per transaction (0..n-1; ``txn``: each message's, -1 for none), the position of its
    first message in time order, ties by place (``where``): pair() numbers transactions
    in that order, so that message's time and place are each one's key in the whole."""
    in_order = bool((ts[1:] >= ts[:-1]).all() and (where[1:] > where[:-1]).all())
    order = np.arange(len(ts)) if in_order else np.lexsort((where, ts))
    order = order[txn[order] >= 0]
    # each transaction's messages in that order (a counting sort), the first of each
    by_txn = order[group_order(txn[order].astype(np.int32), n)]
    sizes = np.bincount(txn[order], minlength=n)
    return np.asarray(by_txn[np.cumsum(sizes) - sizes], np.int64)


def slim(done: Analyzed) -> Analyzed:
    """The part without its transactions and lookups (a worker keeps only its messages,
    for the evidence; :func:`again` makes the tables again if they are asked for)."""
    return Analyzed(done.part, done.messages, pd.DataFrame(), pd.DataFrame(), done.positions)


def again(
    done: Analyzed,
    *,
    multicast: bool = False,
    capture_end: pd.Timestamp | str | None = None,
    skew: float = SKEW_ALLOWANCE_S,
) -> Analyzed:
    """A slimmed part with its transactions and lookups made again (as analyze_part made
    them: pairing and grouping are deterministic)."""
    m = done.messages
    if multicast:
        m = m.take(np.flatnonzero((m["service"] == "dns").to_numpy()))
    tx, _ = pair_rows(m, capture_end=capture_end, skew=skew, keep_rows=False)
    return Analyzed(done.part, done.messages, tx, lookups(tx), done.positions)


def report_of_parts(
    parts: list[Part],
    *,
    stats: dict[str, object] | None,
    evidence: Callable[[dict[str, set[int]]], pd.DataFrame],
    gather: Callable[[], Tables] | None = None,
    select: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    options: Mapping[str, float] | None = None,
    plots: Callable[[Plots], None] | None = None,
) -> Report:
    """The reduce step: the report of the parts' scans, the same as the whole's. Once the
    findings are known, ``evidence`` is asked for the messages of their frames (per file);
    the tables are gathered (``gather``) only if someone asks for them. ``stats``: the
    read's statistics, or None: the evidence's ``attrs`` (a read of it that was whole).
    ``plots`` is called with the figures' data once the scans are combined, before they
    are judged (see :func:`dnspcap.pipeline.analyze`)."""
    scans = combine(parts)
    if plots is not None:
        plots(Plots.of(scans[SUMMARY]))
    found = judge_scans(scans, select=select, ignore=ignore, options=options)
    shown = evidence(frames_wanted(found))
    return Report(
        None, None, None, Findings(found), summary=scans[SUMMARY], evidence=shown,
        stats=shown.attrs["dnspcap"] if stats is None else stats, gather=gather,
    )  # fmt: skip


def assemble(done: list[Analyzed], stats: dict[str, object], *, by_time: bool = False) -> Tables:
    """The whole's three tables from its parts' (each numbered as the whole's); the
    messages in the order of their places (``by_time``: of their times, then places, as
    several capture sets read together are)."""
    numbers = numbering([d.part for d in done])
    where = np.concatenate([d.positions for d in done])
    messages = concat([d.messages for d in done])
    if by_time:
        ts = messages["ts"].to_numpy("datetime64[ns]").view(np.int64)
        messages = messages.take(np.lexsort((where, ts)))
    else:
        messages = messages.take(np.argsort(where, kind="stable"))
    messages = messages.reset_index(drop=True)
    messages.attrs["dnspcap"] = dict(stats)
    rows = [_array(r, len(d.transactions)) for d, (r, _) in zip(done, numbers, strict=True)]
    looks = [_array(k, len(d.lookups)) for d, (_, k) in zip(done, numbers, strict=True)]
    tx = concat([d.transactions for d in done])
    for col in ("nat_peer", "copy_of"):  # labels of the part's own rows, or -1
        local = tx[col].to_numpy(np.int64)
        own = [np.maximum(d.transactions[col].to_numpy(np.int64), 0) for d in done]
        whole = np.concatenate([r[o] for r, o in zip(rows, own, strict=True)]) if len(tx) else local
        tx[col] = np.where(local >= 0, whole, -1)
    tx = tx.take(np.argsort(np.concatenate(rows), kind="stable")).reset_index(drop=True)
    tx.attrs["dnspcap"] = _attrs(done, rows, [str(v["name"]) for v in stats.get("vantages", [])])  # type: ignore[attr-defined]
    lk = concat([relabelled(d.lookups, r) for d, r in zip(done, rows, strict=True)])
    lk = lk.take(np.argsort(np.concatenate(looks), kind="stable")).reset_index(drop=True)
    return messages, tx, lk


def shares(messages: pd.DataFrame, k: int) -> np.ndarray:
    """Per message, its client's share (0..k-1): a query's source, a response's
    destination, by a stable hash of the address's text. One share when the messages
    come from several vantage points (see the module's docstring)."""
    kind = np.int16 if k < 2**15 else np.int64  # a 10M capture's shares: 20 MB, not 80
    if not several_clients_apart(messages, k):
        return np.zeros(len(messages), kind)
    out = []
    for col in ("src", "dst"):
        cat = as_categorical(messages[col])
        table = address_shares(cat, k, kind)
        codes = np.asarray(cat.codes)
        out.append(table[codes] if len(table) else np.zeros(len(messages), kind))
        out[-1][codes < 0] = 0
    src, dst = out
    return np.where(messages["qr"].to_numpy(bool), dst, src)


def several_clients_apart(messages: pd.DataFrame, k: int) -> bool:
    """Whether the messages may be shared among k parts of their clients: more than one
    part, and one vantage point (see the module's docstring)."""
    return k > 1 and len(used_categories(messages["vantage"])) <= 1


def address_shares(cat: pd.Categorical, k: int, kind: Any = np.int16) -> np.ndarray:
    """The share (0..k-1) of each of an address column's categories: a stable hash of
    its text."""
    return np.asarray([zlib.crc32(str(a).encode()) % k for a in cat.categories], kind)


def _attrs(done: list[Analyzed], rows: list[np.ndarray], vantages: list[str]) -> dict[str, Any]:
    """The whole's transactions attrs from its parts': skewed responses added, the rows
    straddling two files in the whole's labels, the vantage points' order and clock
    offsets from every part's links."""
    mine = [d.transactions.attrs.get("dnspcap", {}) for d in done]
    straddling = {int(r[int(k)]): v for a, r in zip(mine, rows, strict=True)
                  for k, v in a.get("straddling", {}).items()}  # fmt: skip
    code = {v: i for i, v in enumerate(vantages)}
    links = sorted((link for a in mine for link in a.get("vantage_links", [])),
                   key=lambda x: (code.get(x[0], -1), code.get(x[1], -1)))  # fmt: skip
    out: dict[str, Any] = {
        "skewed_responses": sum(int(a.get("skewed_responses", 0)) for a in mine),
        "straddling": dict(sorted(straddling.items())),
        **vantage_info(links, vantages),
    }
    if len(vantages) > 1:
        out["vantage_links"] = links
    return out


def relabelled(lk: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """Lookups with their transactions_index through ``rows`` (a label's new label)."""
    if not len(lk):
        return lk
    col = lk["transactions_index"].array
    arr = pa.chunked_array(col._pa_array).combine_chunks()  # type: ignore[attr-defined]
    values = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), np.int64)
    offsets = np.asarray(arr.offsets)  # a taken table's need not start at 0
    at = pa.array(offsets - offsets[0], arr.offsets.type)
    mapped = type(arr).from_arrays(at, pa.array(rows[values], pa.int64()))
    out = lk.copy(deep=False)
    out["transactions_index"] = pd.arrays.ArrowExtensionArray(mapped)
    return out


def _array(n: np.ndarray | int, size: int) -> np.ndarray:
    return n if isinstance(n, np.ndarray) else np.arange(size, dtype=np.int64) + n


def client_texts(col: pd.Series) -> np.ndarray:
    """A categorical column's texts, one per row, through its categories."""
    cat = as_categorical(col)
    texts = np.asarray([str(c) for c in cat.categories] + ["nan"], object)
    return texts[np.asarray(cat.codes, np.int64)]  # code -1 (missing) reads "nan"
