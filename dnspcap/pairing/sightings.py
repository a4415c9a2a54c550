"""Where each query was seen, counted once, and where it was lost (part of `pair`).

One query can be seen several times: a node capture sees it before kube-proxy's DNAT
(to the Service VIP) and after it (to the DNS pod), and a capture set with several
vantage points (the pod's ``eth0``, the node, the DNS pod) sees it at each. Pairing
works per vantage point, so each sighting is a transaction of its own; this step links
the sightings of one query into a *path*, in the order the query travelled:

- within a vantage point, the copies before and after DNAT (``nat_peer``): before first;
- across vantage points, the transactions of the same client socket, ID and question
  (the server may differ: the DNAT happened between them) that started within
  ``LINK_WINDOW_S`` of each other, the nearest in time.

The vantage points are put in the order queries pass them from the round trips the
links show: for two points A and B on a query's path, ``(q_B - q_A) + (r_A - r_B)`` is
the time the packets spent between them, positive whatever the two clocks say when A
is nearer the client; half of ``(q_B - q_A) - (r_A - r_B)`` is B's clock's offset from
A's (NTP's estimate), reported per vantage point.

The first sighting on the path is the one counted (``copy_of`` is -1); the others say
which row they copy. Each counted query says where it was seen (``seen_at``) and, when
the capture set shows it, where an attempt or an answer went missing (``lost_at``): an
attempt seen at one point and not at the next, an answer seen at one point and not at
the one before it on the way back. With a single sighting there is nothing to locate.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical
from .columns import dense

# Two sightings at different vantage points of one client socket, ID and question are one
# query when they started this close (clocks of different nodes may be off by this much).
LINK_WINDOW_S = 2.0
AFTER_DNAT = " after DNAT"
NO_ANSWER = "no answer came back to "


def between(a: str, b: str) -> str:
    """lost_at for an attempt seen at hop a and not at the next hop b."""
    return f"between {a} and {b}"


def on_the_way_back(near: str, far: str) -> str:
    """lost_at for an answer seen at hop far and not at the nearer hop near."""
    return f"answer lost between {far} and {near}"


def link(tx: pd.DataFrame, nat_peer: np.ndarray) -> dict[str, Any]:
    """Add ``copy_of``, ``seen_at`` and ``lost_at`` to the transactions table, in place;
    returns what it learnt of the vantage points (their order and clock offsets)."""
    n = len(tx)
    vantages = [str(v) for v in as_categorical(tx["vantage"]).categories]
    vantage = np.asarray(as_categorical(tx["vantage"]).codes, np.int64)
    q_ts = _ns(tx["query_ts"])
    unit = _dnat_units(nat_peer, q_ts)  # per row: the row that starts its DNAT pair
    info: dict[str, Any] = {"vantage_order": vantages, "clock_offsets_s": {}}
    if len(vantages) > 1:
        group, facts = _across(tx, vantage, unit, q_ts)
        links = _named(facts, vantages)
        info = vantage_info(links, vantages) | {"vantage_links": links}
        order = [vantages.index(v) for v in info["vantage_order"]]
        rank = np.empty(len(vantages), np.int64)
        rank[order] = np.arange(len(order))
    else:
        group, rank = unit, np.zeros(1, np.int64)
    # a hop's place on its path: its vantage point's rank, then before/after DNAT
    after = (unit != np.arange(n)).astype(np.int64)
    place = rank[vantage] * 2 + after if n else np.zeros(0, np.int64)
    copy_of, seen, lost = _paths(tx, group, place, vantage, after, vantages)
    lost = _dropped_at_dnat(tx, nat_peer, group, vantage, vantages, lost)
    tx["copy_of"] = copy_of
    tx["seen_at"] = seen
    tx["lost_at"] = lost
    return info


def _ns(col: pd.Series) -> np.ndarray:
    return np.asarray(col.to_numpy("datetime64[ns]").view(np.int64))


def _dnat_units(peer: np.ndarray, q_ts: np.ndarray) -> np.ndarray:
    """Per row, the row of the first (before DNAT) of its DNAT pair, or itself."""
    unit = np.arange(len(peer))
    row = np.flatnonzero(peer >= 0)
    other = peer[row]
    later = (q_ts[other] < q_ts[row]) | ((q_ts[other] == q_ts[row]) & (other < row))
    unit[row[later]] = other[later]
    return unit


def _named(facts: Facts, vantages: list[str]) -> list[list[Any]]:
    """The facts as rows of names (JSON's: a NaN offset is None), by a, then b."""
    return [[vantages[a], vantages[b], near, None if np.isnan(off) else off]
            for (a, b), (near, off) in sorted(facts.items())]  # fmt: skip


def _across(
    tx: pd.DataFrame, vantage: np.ndarray, unit: np.ndarray, q_ts: np.ndarray
) -> tuple[np.ndarray, Facts]:
    """Link the DNAT units of different vantage points that are sightings of one query;
    returns per row its group (the smallest row of its linked units) and what the links
    between each two vantage points say (facts_of)."""
    heads = np.flatnonzero((unit == np.arange(len(unit))) & (tx["attempts"].to_numpy() > 0))
    key = _key(tx, heads)
    r_ts = _ns(tx["response_ts"])
    lq_ts = _ns(tx["last_query_ts"])
    parent = np.arange(len(unit))
    pairs: dict[tuple[int, int], np.ndarray] = {}
    # only two vantage points that saw one client socket, ID and question can share a
    # query: of a fleet's many vantage points, most pairs share none (and link nothing)
    of_head = vantage[heads]
    mine = {int(v): np.flatnonzero(of_head == v) for v in np.unique(of_head).tolist()}
    for a, b in _sharing(key, of_head):
        ia, ib = heads[mine[a]], heads[mine[b]]
        ka, kb = key[mine[a]], key[mine[b]]
        ra, rb = _link(ka, ia, kb, ib, q_ts, lq_ts)
        for x, y in zip(ra.tolist(), rb.tolist(), strict=True):
            _union(parent, x, y)
        # per link: the time between them both ways (positive when a is nearer the
        # client), and twice b's offset from a
        answered = (r_ts[ra] != _NAT) & (r_ts[rb] != _NAT)
        way = np.where(answered, (q_ts[rb] - q_ts[ra]) + (r_ts[ra] - r_ts[rb]),
                       q_ts[rb] - q_ts[ra])  # fmt: skip
        skew = np.where(answered, (q_ts[rb] - q_ts[ra]) - (r_ts[ra] - r_ts[rb]), 0)
        pairs[(a, b)] = np.stack([way, skew, answered])
    group = _roots(parent)[unit]
    return group, facts_of(pairs)


def _sharing(key: np.ndarray, vantage: np.ndarray) -> list[tuple[int, int]]:
    """The pairs of vantage points (a < b) that have a key in common."""
    if not len(key):
        return []
    nv = int(vantage.max()) + 1
    both = np.unique(key * nv + vantage)  # by key, then vantage (key < rows: no overflow)
    k, v = both // nv, both % nv
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    ends = np.r_[starts[1:], len(k)]
    out: set[tuple[int, int]] = set()
    for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
        if e - s > 1:
            out.update(itertools.combinations(v[s:e].tolist(), 2))
    return sorted((int(a), int(b)) for a, b in out)


def _roots(parent: np.ndarray) -> np.ndarray:
    """Each row's root in the union-find forest (parents are never above their child, so
    following parents by halves converges: the roots _find gives, for all rows at once)."""
    roots = parent.copy()
    while True:
        up = roots[roots]
        if np.array_equal(up, roots):
            return roots
        roots = up


_NAT = np.iinfo(np.int64).min


def _key(tx: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """One code per row for its client socket, transport, ID and question."""
    parts = [
        as_categorical(tx[c]).codes for c in ("client", "transport", "qname", "qtype", "qclass")
    ]
    parts += [tx["client_port"].to_numpy(), tx["id"].to_numpy()]
    return dense(tuple(np.asarray(p, np.int64)[rows] for p in parts))


def _link(
    ka: np.ndarray,
    ia: np.ndarray,
    kb: np.ndarray,
    ib: np.ndarray,
    q_ts: np.ndarray,
    lq_ts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows (of a, of b) that are sightings of one query: the same key, first attempts
    nearest in time; then, for the rest, one's first attempt near the other's last (a
    point further on saw only the retry: the first attempt was lost before it)."""
    m = _nearest(ka, q_ts[ia], kb, q_ts[ib])
    ra, rb = [ia[m[0]]], [ib[m[1]]]
    la = np.ones(len(ia), bool)
    lb = np.ones(len(ib), bool)
    la[m[0]], lb[m[1]] = False, False
    for late_a in (True, False):  # a saw every attempt and b only the last, or the reverse
        ta = lq_ts[ia[la]] if late_a else q_ts[ia[la]]
        tb = q_ts[ib[lb]] if late_a else lq_ts[ib[lb]]
        m = _nearest(ka[la], ta, kb[lb], tb)
        xa, xb = np.flatnonzero(la)[m[0]], np.flatnonzero(lb)[m[1]]
        ra.append(ia[xa])
        rb.append(ib[xb])
        la[xa], lb[xb] = False, False
    return np.concatenate(ra), np.concatenate(rb)


def _nearest(
    key_a: np.ndarray, t_a: np.ndarray, key_b: np.ndarray, t_b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in a, in b) of one-to-one matches: the same key, nearest in time, at
    most LINK_WINDOW_S apart."""
    if not len(key_a) or not len(key_b):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    left = pd.DataFrame({"key": key_a, "t": t_a, "i": np.arange(len(key_a))})
    right = pd.DataFrame({"key": key_b, "t": t_b, "j": np.arange(len(key_b))})
    m = pd.merge_asof(
        left.sort_values("t", kind="stable"), right.sort_values("t", kind="stable"),
        on="t", by="key", direction="nearest", tolerance=int(LINK_WINDOW_S * 1e9),
    ).dropna(subset=["j"])  # fmt: skip
    m = m.drop_duplicates("j")
    return m["i"].to_numpy(np.int64), m["j"].to_numpy(np.int64)


def _find(parent: np.ndarray, x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = int(parent[x])
    return x


def _union(parent: np.ndarray, x: int, y: int) -> None:
    rx, ry = _find(parent, x), _find(parent, y)
    if rx != ry:
        parent[max(rx, ry)] = min(rx, ry)


Facts = dict[tuple[int, int], tuple[int, float]]


def facts_of(pairs: dict[tuple[int, int], np.ndarray]) -> Facts:
    """What the links between two vantage points a < b say: whether a is nearer the client
    (1) or b is (-1), and b's clock offset from a's (s; NaN: no link was answered)."""
    out: Facts = {}
    for (a, b), (way, skew, answered) in pairs.items():
        if not len(way):
            continue
        near = int(np.sign(np.median(way)))
        off = float(np.median(skew[answered.astype(bool)])) / 2e9 if answered.any() else np.nan
        out[(a, b)] = (1 if near >= 0 else -1, off)
    return out


def order_of(facts: Facts, nv: int) -> tuple[list[int], dict[int, float]]:
    """The vantage points in path order and their clock offsets, from facts_of's facts."""
    before = np.zeros((nv, nv), np.int64)  # before[a, b]: a is nearer the client
    offset = np.full((nv, nv), np.nan)
    for (a, b), (near, off) in facts.items():
        before[a, b], before[b, a] = (1, 0) if near >= 0 else (0, 1)
        if not np.isnan(off):
            offset[a, b], offset[b, a] = off, -off
    # nearest the client first: the one that is before the most others
    order = sorted(range(nv), key=lambda v: (-int(before[v].sum()), v))
    offsets = {order[0]: 0.0}
    for v in order[1:]:  # through any point whose offset is known already
        known = [u for u in offsets if not np.isnan(offset[u, v])]
        offsets[v] = offsets[known[0]] + float(offset[known[0], v]) if known else float("nan")
    return order, offsets


def vantage_info(links: list[list[Any]], vantages: list[str]) -> dict[str, Any]:
    """The vantage points' order and clock offsets of a table whose vantage points are
    ``vantages`` (its categories, in order), from the links its parts saw (each part's
    ``vantage_links``: rows of names a, b, a's side, b's offset)."""
    if len(vantages) < 2:
        return {"vantage_order": list(vantages), "clock_offsets_s": {}}
    code = {v: i for i, v in enumerate(vantages)}
    facts = {(code[a], code[b]): (int(near), np.nan if off is None else float(off))
             for a, b, near, off in links}  # fmt: skip
    order, offsets = order_of(facts, len(vantages))
    return {
        "vantage_order": [vantages[v] for v in order],
        "clock_offsets_s": {vantages[v]: offsets[v] for v in order},
    }


def _paths(
    tx: pd.DataFrame,
    group: np.ndarray,
    place: np.ndarray,
    vantage: np.ndarray,
    after: np.ndarray,
    vantages: list[str],
) -> tuple[np.ndarray, Any, Any]:
    """copy_of, seen_at and lost_at from each row's group and place on its path."""
    n = len(group)
    copy_of = np.full(n, -1, np.int64)
    names = [f"{v}{s}" for v in vantages for s in ("", AFTER_DNAT)]
    hop = vantage * 2 + after  # codes into names
    many = np.flatnonzero(np.bincount(group, minlength=n)[group] > 1)
    if not len(many):  # the usual case: every query seen once
        return copy_of, _used(hop, names), _no_loss(n)
    order = many[np.lexsort((many, place[many], group[many]))]
    g = group[order]
    first = np.ones(len(order), bool)
    first[1:] = g[1:] != g[:-1]
    head = order[first][np.cumsum(first) - 1]  # each hop's counted row
    copy_of[order[~first]] = head[~first]
    attempts, responses = tx["attempts"].to_numpy(), tx["responses"].to_numpy()
    seen_text = np.array([names[h] for h in hop], dtype=object)
    lost_text = np.full(n, "", dtype=object)
    # walk each multi-hop path once (short: two to four hops), in Python over the few
    # rows that have copies
    starts = [*np.flatnonzero(first).tolist(), len(order)]
    for s, e in itertools.pairwise(starts):
        rows = order[s:e].tolist()
        hops = [names[hop[r]] for r in rows]
        seen_text[rows[0]] = " > ".join(hops)
        lost_text[rows[0]] = _lost(hops, attempts[rows], responses[rows])
    seen = pd.Categorical(seen_text)
    lost = pd.Categorical(lost_text)
    return copy_of, seen, lost


def _used(codes: np.ndarray, names: list[str]) -> pd.Categorical:
    """The categorical of these codes into names, with only the names used: what
    remove_unused_categories() gives, from a count of the codes rather than its
    np.unique (30 ms for 1M rows)."""
    used = np.flatnonzero(np.bincount(codes, minlength=len(names)))
    recode = np.full(len(names), -1, np.int64)
    recode[used] = np.arange(len(used))
    out: pd.Categorical = pd.Categorical.from_codes(  # type: ignore[assignment]
        recode[codes], categories=pd.Index(names)[used], validate=False
    )
    return out


def _dropped_at_dnat(
    tx: pd.DataFrame,
    peer: np.ndarray,
    group: np.ndarray,
    vantage: np.ndarray,
    vantages: list[str],
    lost: Any,
) -> Any:
    """lost_at for the queries a capture saw go to an address it shows being DNAT'ed (other
    queries to it have their copy after DNAT), with no copy of their own after DNAT and an
    attempt unanswered: every attempt was dropped on that node, before DNAT's copy."""
    if not (peer >= 0).any():
        return lost
    server = np.asarray(as_categorical(tx["server"]).codes, np.int64)
    nserver = int(server.max()) + 1 if len(server) else 1
    key = vantage * nserver + server
    dnat = np.zeros(int(key.max()) + 1, bool)
    dnat[key[peer >= 0]] = True
    alone = np.bincount(group, minlength=len(group))[group] == 1
    attempts, responses = tx["attempts"].to_numpy(), tx["responses"].to_numpy()
    hit = np.flatnonzero(alone & dnat[key] & (attempts > 0) & ((responses == 0) | (attempts > 1)))
    if not len(hit):
        return lost
    text = np.asarray(lost, dtype=object)
    for r in hit.tolist():
        name = vantages[vantage[r]]
        text[r] = between(name, name + AFTER_DNAT)
    return pd.Categorical(text)


def _lost(hops: list[str], attempts: np.ndarray, responses: np.ndarray) -> str:
    """Where on a path an attempt or an answer went missing ('' when nowhere)."""
    for k in range(len(hops) - 1):
        if attempts[k + 1] < attempts[k]:
            return between(hops[k], hops[k + 1])
    for k in range(len(hops) - 1, 0, -1):
        if responses[k - 1] < responses[k]:
            return on_the_way_back(hops[k - 1], hops[k])
    if responses[-1] == 0:  # it got as far as the last point, and nothing came back
        return f"{NO_ANSWER}{hops[-1]}"
    return ""


def _no_loss(n: int) -> pd.Categorical:
    out: pd.Categorical = pd.Categorical.from_codes(  # type: ignore[assignment]
        np.zeros(n, np.int8), categories=pd.Index([""])
    )
    return out
