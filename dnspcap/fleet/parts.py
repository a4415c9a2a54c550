"""analyze() on a cluster, in parts: each part paired, grouped and scanned on the worker
that read it; the client judges the parts' scans and asks them for the evidence.

The capture sets are read where the files lie (:mod:`.run`). Sets that share a client
address (the pod, the node and the DNS pod seeing one query; a pod moved between node
captures) are one part, put together on a worker; a set too big for a worker, read as
client shares (:mod:`.split`), is a part per share when it is a part alone. Each part
is :func:`dnspcap.pipeline.parts.analyze_part`: its tables stay on its worker, and the
client receives its scans (a few rows per finding) and, once the findings are known, the
messages of their frames. ``report.transactions`` gathers the tables; the figures are
drawn from the scans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical
from ..arrays.frames import concat
from ..errors import DnspcapError
from ..pipeline.parts import Analyzed, again, analyze_part, assemble, report_of_parts, slim
from ..report import Report
from ..report.summary import evidence_messages
from .combine import combine
from .split import ROW, join

FRAME_BITS = 40  # a message's place: its file's rank in the plan, then its frame


def analyze_sets(
    client: Any,
    frames: list[list[Any]],
    files: list[str],
    *,
    stats: dict[str, Any],
    multicast: bool,
    held: Callable[[], dict[str, object]],
    select: Iterable[str] | None,
    ignore: Iterable[str],
    options: Mapping[str, float] | None,
    capture_end: pd.Timestamp | str | None,
    skew: float,
) -> Report:
    """The report of the capture sets whose frames (futures: per set, its one frame or its
    client shares) the workers hold; ``files``: every file in the plan's order."""
    rank = {f: i for i, f in enumerate(files)}
    addresses = client.gather([client.submit(clients_of, f, pure=False) for s in frames for f in s])
    groups = _components(frames, addresses)
    several = len(frames) > 1
    settings = dict(select=select, ignore=ignore, options=options, capture_end=capture_end,
                    skew=skew, multicast=multicast, several=several)  # fmt: skip
    done = []
    for group in groups:
        if len(group) == 1 and len(frames[group[0]]) > 1:  # a big set alone: a part per share
            done += [client.submit(part_of, [[f]], rank, **settings, pure=False)
                     for f in frames[group[0]]]  # fmt: skip
        else:
            done.append(client.submit(part_of, [frames[i] for i in group], rank, **settings,
                                      pure=False))  # fmt: skip
    parts = client.gather([client.submit(_part, d, pure=False) for d in done])
    if not sum(p.scans["report"].count("dns") for p in parts) and not stats.get("messages"):
        stats["survey"] = held()

    def evidence(wanted: dict[str, set[int]]) -> pd.DataFrame:
        got = client.gather([client.submit(_evidence, d, wanted, pure=False) for d in done])
        return _in_order(got, several)

    def gather() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        if client.status != "running":
            raise DnspcapError(
                "the cluster that made this report is closed: its tables were on its workers "
                "(the report, its findings and its evidence are here; ask for "
                "report.transactions while the client is open, or export them)"
            )
        made = [client.submit(again, d, multicast=multicast, capture_end=capture_end, skew=skew,
                              pure=False) for d in done]  # fmt: skip
        return assemble(client.gather(made), stats, by_time=several)

    return report_of_parts(
        parts, stats=stats, evidence=evidence, gather=gather,
        select=select, ignore=ignore, options=options,
    )  # fmt: skip


def clients_of(frame: pd.DataFrame) -> set[str]:
    """A worker's task: the client addresses of a set's messages (a query's source, a
    response's destination)."""
    out: set[str] = set()
    qr = frame["qr"].to_numpy(bool)
    for col, mine in (("src", ~qr), ("dst", qr)):
        codes = np.asarray(as_categorical(frame[col]).codes)[mine]
        cats = as_categorical(frame[col]).categories
        out.update(str(cats[c]) for c in np.unique(codes[codes >= 0]))
    return out


def part_of(
    sets: list[list[pd.DataFrame]],
    rank: dict[str, int],
    *,
    several: bool,
    multicast: bool,
    **settings: Any,
) -> Analyzed:
    """A worker's task: one part (sets sharing clients, or one client share of a big set)
    analysed, each message with its place in the whole's messages: its position in the
    read of a lone set, else its file's rank and its frame (several sets read together
    are merged in time order, ties by file, then frame)."""
    if len(sets) == 1 and len(sets[0]) == 1 and ROW in sets[0][0].columns:
        share = sets[0][0]  # one client share of a big set: rows in the set's order
        m = share.drop(columns=ROW)
        m.attrs = share.attrs
        place = _place(m, rank) if several else share[ROW].to_numpy(np.int64)
    else:
        whole = [_joined(s) for s in sets]
        m = whole[0] if len(whole) == 1 else combine(whole)
        place = _place(m, rank) if several else np.arange(len(m), dtype=np.int64)
    done = analyze_part(m.reset_index(drop=True), positions=place, multicast=multicast,
                        **settings)  # fmt: skip
    return slim(done)  # the worker keeps the messages (the evidence), not the tables


def _place(m: pd.DataFrame, rank: dict[str, int]) -> np.ndarray:
    files = as_categorical(m["file"])
    file_rank = np.asarray([rank.get(str(f), 0) for f in files.categories], np.int64)
    codes = np.maximum(np.asarray(files.codes, np.int64), 0)
    return np.asarray((file_rank[codes] << FRAME_BITS) | m["frame"].to_numpy(np.int64))


def _joined(shares: list[pd.DataFrame]) -> pd.DataFrame:
    return shares[0] if len(shares) == 1 and ROW not in shares[0].columns else join(shares)


def _part(done: Analyzed) -> Any:
    return done.part


def _evidence(done: Analyzed, wanted: dict[str, set[int]]) -> pd.DataFrame:
    out = evidence_messages(done.messages, wanted)
    out = out.assign(_place=done.positions[out.index.to_numpy()])
    return out


def _in_order(got: list[pd.DataFrame], by_time: bool) -> pd.DataFrame:
    """The parts' evidence messages as the whole's table orders them."""
    m = concat(got) if got else pd.DataFrame()
    if not len(m):
        return m
    place = m["_place"].to_numpy(np.int64)
    ts = m["ts"].to_numpy("datetime64[ns]").view(np.int64)
    order = np.lexsort((place, ts)) if by_time else np.argsort(place, kind="stable")
    return m.take(order).drop(columns="_place").reset_index(drop=True)


def _components(frames: list[list[Any]], addresses: list[set[str]]) -> list[list[int]]:
    """The sets grouped by shared client addresses (union-find), in the plan's order."""
    owner: dict[str, int] = {}
    parent = list(range(len(frames)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    k = 0
    for i, s in enumerate(frames):
        for _ in s:
            for a in addresses[k]:
                j = owner.setdefault(a, i)
                if j != i:
                    parent[find(i)] = find(j)
            k += 1
    groups: dict[int, list[int]] = {}
    for i in range(len(frames)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values())
