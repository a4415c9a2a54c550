"""What the report's three figures are drawn from, kept as tables of the summary scan
(:mod:`.summary`): made of each part's tables and combined as the detectors' scans are,
so that the figures of a capture analysed in parts (a big file, a cluster run) need none
of the whole's tables, and are the whole's figures.

- queries per lookup: the lookups counted by kind and number of queries;
- response times: each answer's time and server (the summary's ``rtt`` table), and the
  other transactions counted per server and status;
- the timeline: each client's lookups and troubled lookups counted, and the lookups of
  the clients a figure may show (a part's worst ``TIMELINE_CLIENTS``: parts hold whole
  clients, so the whole's worst are among its parts' worst), with their retransmissions'
  times. Parts cut in time (a watch's) hold no client whole: the worst clients are
  known only once all are counted, so the timeline takes their lookups from the
  summary's row per lookup (``BY_LOOKUP``, which such parts keep for the clients table),
  and each part keeps the retransmission times of all its retried lookups.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..arrays.categorical import as_categorical, codes_of, flatten, strings_of, texts_in
from ..arrays.frames import counted
from ..findings.scan import LOOKUP, Scan

TIMELINE_CLIENTS = 20  # the clients the report's timeline shows
FAILURES = ("failed", "timed_out")
QUERIES, SERVERS, CLIENTS, LOOKUPS, TICKS = (
    "plot_queries", "plot_servers", "plot_clients", "plot_lookups", "plot_ticks",
)  # fmt: skip
BY_LOOKUP = "client_lookups"  # the summary's row per lookup, for parts that split clients
# the kinds of lookup of the queries figure, by whether it used search-list names and
# whether it retransmitted (KIND_COLOURS in .figures)
DIRECT, SEARCH, RETRIED, BOTH = range(4)
_TEXTS = np.zeros(0, object)  # typed empty columns: a part without rows keeps the dtypes
_INTS = np.zeros(0, np.int64)


def rtt_table(tx: pd.DataFrame | None) -> pd.DataFrame:
    """Every round-trip time of the transactions (s) with its server and whether the
    transaction was answered, counted (``n``: times to the microsecond repeat, so a
    million answers are some ten thousand rows): the percentiles of the report, the
    latency figure's dots."""
    if tx is None or not len(tx):
        return counted(
            pd.DataFrame({"rtt": np.zeros(0), "server": _TEXTS, "answered": np.zeros(0, bool)})
        )
    has = tx["rtt"].notna().to_numpy()
    answered = (tx["status"] == "answered").to_numpy()
    return counted(
        pd.DataFrame(
            {
                "rtt": tx["rtt"].to_numpy(np.float64)[has],
                "server": tx["server"].array[has],
                "answered": answered[has],
            }
        )
    )


def tables(
    tx: pd.DataFrame | None,
    lk: pd.DataFrame,
    *,
    whole_clients: bool = True,
    clients: int = TIMELINE_CLIENTS,
) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """The figures' tables and counts of these tables (a part's, or the whole's); with
    ``whole_clients`` (parts hold whole clients) the lookups of the part's worst
    ``clients`` clients too."""
    some = bool(len(lk))
    q = lk["queries"].to_numpy(np.int64) if some else np.zeros(0, np.int64)
    search = lk["search_queries"].to_numpy() > 0 if some else np.zeros(0, bool)
    retried = lk["retransmissions"].to_numpy() > 0 if some else np.zeros(0, bool)
    drawn = lk["start"].notna().to_numpy() if some else np.zeros(0, bool)  # with a start
    kind = np.select([search & retried, search, retried], [BOTH, SEARCH, RETRIED], DIRECT)
    by_kind = pd.DataFrame({"kind": kind, "queries": q}).value_counts(sort=False)
    out = {
        QUERIES: by_kind.rename("n").reset_index(),
        SERVERS: servers_table(tx),
        CLIENTS: _clients(lk, drawn, retried),
    }
    counts: dict[str, float] = {
        "plot_search_queries": int(lk["search_queries"].sum()) if some else 0,
        "plot_retransmissions": int(lk["retransmissions"].sum()) if some else 0,
        "plot_transactions": drawn_transactions(tx),
        "plot_drawn": int(drawn.sum()),
    }
    if whole_clients:
        out.update(candidates(tx, lk, drawn, out[CLIENTS], clients))
    else:  # the lookups are the summary's rows (BY_LOOKUP); the retried ones' ticks here
        counts["plot_split"] = 1
        out[TICKS] = _ticks(tx, lk, np.flatnonzero(retried & drawn))
    return out, counts


def drawn_transactions(tx: pd.DataFrame | None) -> int:
    """The transactions the latency figure is of: all but responses without a query."""
    if tx is None or not len(tx):
        return 0
    return int((tx["status"] != "response_without_query").sum())


def servers_table(tx: pd.DataFrame | None) -> pd.DataFrame:
    """The transactions that are not answered with a time (responses without a query
    left out), counted per server and status, with the first one's label (``first_row``):
    the figure lists the most common first, then the first seen."""
    if tx is None or not len(tx):
        return pd.DataFrame({"server": _TEXTS, "status": _TEXTS, "n": _INTS, "first_row": _INTS})
    status, server = tx["status"], tx["server"]
    answered = texts_in(status, ["answered"]) & np.isfinite(tx["rtt"].to_numpy(np.float64))
    known = (codes_of(status) > 0) & (codes_of(server) > 0)
    other = np.flatnonzero(known & ~answered & ~texts_in(status, ["response_without_query"]))
    t = pd.DataFrame(
        {
            "server": strings_of(server.iloc[other]),
            "status": strings_of(status.iloc[other]),
            "first_row": tx.index.to_numpy(np.int64)[other],
        }
    )
    g = t.groupby(["server", "status"], sort=False)["first_row"]
    return pd.DataFrame({"n": g.size(), "first_row": g.min()}).reset_index()


def _clients(lk: pd.DataFrame, drawn: np.ndarray, retried: np.ndarray) -> pd.DataFrame:
    """Per client (text), its lookups drawn (with a start) and how many of them failed or
    retried: the timeline shows the clients with the most of those."""
    if not len(lk):
        return pd.DataFrame({"client": _TEXTS, "n": _INTS, "bad": _INTS})
    cat = as_categorical(lk["client"])
    code = np.asarray(cat.codes, np.int64)
    bad = (texts_in(lk["outcome"], FAILURES) | retried) & drawn
    seen = drawn & (code >= 0)
    size = len(cat.categories)
    n = np.bincount(code[seen], minlength=size)
    b = np.bincount(code[seen & bad], minlength=size)
    some = np.flatnonzero(n)
    names = np.asarray(cat.categories.astype(str), object)
    return pd.DataFrame({"client": names[some], "n": n[some], "bad": b[some]})


def ranked(counts: pd.DataFrame) -> np.ndarray:
    """The clients (texts), the most failed or retried lookups first, then the most
    lookups, then by name."""
    if not len(counts):
        return np.zeros(0, object)
    c = counts.groupby("client", sort=True)[["n", "bad"]].sum()  # by name
    names = c.index.to_numpy(object)
    order = np.lexsort((np.arange(len(c)), -c["n"].to_numpy(), -c["bad"].to_numpy()))
    return names[order]


def candidates(
    tx: pd.DataFrame | None,
    lk: pd.DataFrame,
    drawn: np.ndarray,
    counts: pd.DataFrame,
    clients: int,
) -> dict[str, pd.DataFrame]:
    """The drawn lookups of these tables' worst ``clients`` clients (``lookup``: their
    positions), and the time of each retransmission of their queries (``at``), when the
    transactions are given and the lookups name theirs."""
    shown = ranked(counts)[:clients]
    pos = np.flatnonzero(texts_in(lk["client"], shown) & drawn) if len(shown) else _INTS
    cols = ["client", "outcome", "start", "duration", "retransmissions"]
    looks = _lookup_rows(lk[cols].iloc[pos] if len(pos) else None, pos)
    return {LOOKUPS: looks, TICKS: _ticks(tx, lk, pos)}


def _lookup_rows(rows: pd.DataFrame | None, at: np.ndarray) -> pd.DataFrame:
    """What the timeline draws of these lookups (``at``: their positions), texts as
    texts: the parts' categories differ. None: no lookup, the columns typed."""
    if rows is None:
        return pd.DataFrame({LOOKUP: _INTS, "client": _TEXTS, "outcome": _TEXTS,
                             "start": np.zeros(0, "datetime64[ns]"), "duration": np.zeros(0),
                             "retransmissions": _INTS})  # fmt: skip
    return pd.DataFrame(
        {
            LOOKUP: np.asarray(at, np.int64),
            "client": strings_of(rows["client"]),
            "outcome": strings_of(rows["outcome"]),
            "start": rows["start"].to_numpy("datetime64[ns]"),
            "duration": rows["duration"].to_numpy(float),
            "retransmissions": rows["retransmissions"].to_numpy(np.int64),
        }
    )


def _ticks(tx: pd.DataFrame | None, lk: pd.DataFrame, pos: np.ndarray) -> pd.DataFrame:
    """The retransmissions of these lookups' queries: the lookup's position, the time."""
    ticks = pd.DataFrame({LOOKUP: np.zeros(0, np.int64), "at": np.zeros(0, "datetime64[ns]")})
    if tx is not None and len(tx) and len(pos) and "transactions_index" in lk:
        which, at = retry_times(lk["transactions_index"], pos, tx)
        ticks = pd.DataFrame({LOOKUP: pos[which].astype(np.int64), "at": at})
    return ticks


def retry_times(
    members_of: pd.Series, lookups: np.ndarray, tx: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(index in `lookups`, time as datetime64[ns] UTC) of every retransmission of the
    queries of these lookups (positions; `members_of` is the lookups' transactions_index)."""
    none = np.empty(0, np.int64), np.empty(0, "datetime64[ns]")
    members, owner = flatten(members_of, lookups)
    members = members.astype(np.int64)
    if not len(members) or int(members.max()) >= len(tx):
        return none
    retried = tx["attempts"].to_numpy()[members] > 1
    members, owner = members[retried], owner[retried]
    gaps, of = flatten(tx["retry_gaps"], members)
    gaps = gaps.astype(np.float64)
    known = ~np.isnan(gaps)
    gaps, of = gaps[known], of[known]
    if not len(gaps):
        return none
    # each resend at its transaction's first query plus the gaps up to it
    total = pd.Series(gaps).groupby(of).cumsum().to_numpy()
    at = tx["query_ts"].iloc[members[of]].reset_index(drop=True) + pd.to_timedelta(total, unit="s")
    return owner[of], at.dt.tz_convert(None).to_numpy("datetime64[ns]")


@dataclass(frozen=True)
class Plots:
    """The figures' data of the whole, read out of the combined summary scan."""

    queries: pd.DataFrame  # kind, queries, n
    searched: int  # queries on search-list names, retransmissions, of all lookups
    retransmissions: int
    rtt: pd.DataFrame  # rtt (s), server, answered, n (how many: see rtt_table)
    servers: pd.DataFrame  # the other transactions: server, status, n, first_row
    transactions: int  # those drawn (responses without a query left out)
    clients: pd.DataFrame  # client, n, bad
    drawn: int  # lookups with a start
    lookups: pd.DataFrame | None  # the candidates (None: parts cut in time)
    ticks: pd.DataFrame

    @classmethod
    def of(cls, scan: Scan) -> Plots:
        counted = _summed(scan.table(CLIENTS), ["client"], {"n": "sum", "bad": "sum"})
        if scan.count("plot_split"):
            looks = _worst_rows(scan.table(BY_LOOKUP), counted)
        else:
            looks = scan.table(LOOKUPS) if LOOKUPS in scan.tables else None
        return cls(
            queries=_summed(scan.table(QUERIES), ["kind", "queries"], {"n": "sum"}),
            searched=int(scan.count("plot_search_queries")),
            retransmissions=int(scan.count("plot_retransmissions")),
            rtt=scan.table("rtt"),
            servers=_summed(
                scan.table(SERVERS), ["server", "status"], {"n": "sum", "first_row": "min"}
            ),
            transactions=int(scan.count("plot_transactions")),
            clients=counted,
            drawn=int(scan.count("plot_drawn")),
            lookups=looks,
            ticks=scan.table(TICKS),
        )

    @classmethod
    def of_tables(
        cls, tx: pd.DataFrame | None, lk: pd.DataFrame, clients: int = TIMELINE_CLIENTS
    ) -> Plots:
        """The figures' data of whole tables (``tx`` None: no retransmission ticks)."""
        found, counts = tables(tx, lk, clients=clients)
        return cls.of(Scan({**found, "rtt": rtt_table(tx)}, counts))


def _summed(t: pd.DataFrame, by: list[str], how: dict[str, str]) -> pd.DataFrame:
    """The parts' rows of a count table added up per key, in key order."""
    if not len(t):
        return t
    return t.groupby(by, sort=True).agg(how).reset_index()


def _worst_rows(rows: pd.DataFrame, counted: pd.DataFrame) -> pd.DataFrame | None:
    """The drawn lookups of the worst clients, of the summary's row per lookup (parts cut
    in time: a client's lookups are in several). None: the rows say no start."""
    if not len(rows):
        return _lookup_rows(None, _INTS)
    if "start" not in rows:
        return None
    mine = texts_in(rows["client"], ranked(counted)[:TIMELINE_CLIENTS])
    picked = rows[mine & rows["start"].notna().to_numpy()]
    return _lookup_rows(picked, picked[LOOKUP].to_numpy(np.int64))
