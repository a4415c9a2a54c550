"""What dnspcap must find in each lab capture, as patterns that hold on every run.

IDs, ports and timestamps differ from run to run, and so does which of two endpoints
kube-proxy picks; the patterns name what does not: which findings, how many, which
clients, the resolver's retry gap. The lab's verify step (run.py) and
tests/test_lab.py both use :func:`pattern_for` and :func:`check`.

A pattern is a dict:

- ``codes``: exactly these finding codes, no other;
- ``"DNS00n"``: for that finding, ``field: matcher`` where a field is a Finding
  attribute or ``details.<key>``, and a matcher is a value (equal), :class:`About`,
  :class:`Between`, :class:`Has` (contains these), :class:`In` (one of these) or
  :class:`Regex`;
- ``maybe``: codes that may also be there (a real race's outcome varies);
- ``resolvers_include``: ``{client: set}``: resolvers its lookups must include;
- ``outcomes``: ``{outcome: matcher}`` over the lookups table;
- ``transports``, ``statuses``: the set of values in the transactions table;
- ``quiet``: clients that must appear in no finding;
- ``linktype``: the capture's link type (1 Ethernet, 276 LINUX_SLL2);
- ``clients``: what each client got and how long it took (the lab's own record,
  ``lab.json``; checked on fresh runs only).

What the resolvers put on the wire, from the transactions table (the copies a node
capture sees after DNAT left out), whatever the findings:

- ``exchanges``: ``{"<qtype> <answered|unanswered|...>": count}``, exactly; a
  query with no response counts as unanswered whether the capture went on long
  enough for the analyzer to call it so or not (its ``pending``);
- ``requeries``: questions (client, name, qtype) asked again in a new transaction
  after the previous one got no answer: ``count``, and for each ``gap_s`` (from the
  previous transaction's last send), ``port`` and ``id`` (``"same"`` or ``"new"``)
  and ``servers`` (``(from, to)``, matched with :class:`In`);
- ``resends``: sends repeated within a transaction (same ID and port): ``count``
  and each ``gap_s``;
- ``pairs``: the A and AAAA of one name sent to one server at once (within 50 ms):
  ``count``, and ``sockets``: 1 (one port: glibc, musl) or 2 (Go).

A pattern without ``codes`` says nothing about which findings there are: the new
resolvers' scenarios (Go; the one-lookup captures) have their findings pinned only
once the analyzer knows them.

A pattern for ``DNS00n`` applies to every finding with that code.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EN10MB, SLL2 = 1, 276


@dataclass(frozen=True)
class About:
    value: float
    tol: float

    def __call__(self, x: Any) -> bool:
        return x is not None and abs(float(x) - self.value) <= self.tol

    def __str__(self) -> str:
        return f"{self.value} ± {self.tol}"


@dataclass(frozen=True)
class Between:
    lo: float
    hi: float

    def __call__(self, x: Any) -> bool:
        return x is not None and self.lo <= float(x) <= self.hi

    def __str__(self) -> str:
        return f"in [{self.lo}, {self.hi}]"


@dataclass(frozen=True)
class Has:
    items: tuple[Any, ...]

    def __init__(self, *items: Any) -> None:
        object.__setattr__(self, "items", items)

    def __call__(self, x: Any) -> bool:
        return all(i in x for i in self.items)

    def __str__(self) -> str:
        return f"containing {list(self.items)}"


@dataclass(frozen=True)
class Regex:
    pattern: str

    def __call__(self, x: Any) -> bool:
        return re.search(self.pattern, str(x)) is not None

    def __str__(self) -> str:
        return f"matching /{self.pattern}/"


@dataclass(frozen=True)
class In:
    items: tuple[Any, ...]

    def __init__(self, *items: Any) -> None:
        object.__setattr__(self, "items", items)

    def __call__(self, x: Any) -> bool:
        return x in self.items

    def __str__(self) -> str:
        return f"one of {list(self.items)}"


def _ok(matcher: Any, value: Any) -> bool:
    if callable(matcher):
        return bool(matcher(value))
    if isinstance(matcher, set | frozenset):
        return set(value) == matcher
    return bool(value == matcher)


def _field(finding: Any, name: str) -> Any:
    if name.startswith("details."):
        return finding.details.get(name.removeprefix("details."))
    value = getattr(finding, name)
    return value


GLIBC_RETRY = About(5.0, 0.25)  # RES_TIMEOUT
MUSL_RETRY = About(2.5, 0.25)  # timeout 5 s / attempts 2
GO_RETRY = About(5.0, 0.25)  # dnsConfig's default timeout
TIMEOUT2 = About(2.0, 0.25)  # options timeout:2
VIP, NODELOCAL = "10.96.0.10", "169.254.20.10"
FQDNS = ("db.prod.svc.cluster.local.", "api.example.com.", "web.default.svc.cluster.local.")
FAILOVER = In((NODELOCAL, VIP))
# Go: every exchange from a new socket with a new random ID, never a resend on one
GO_REQUERY = {"port": "new", "id": "new"}


def _client(kind: str, name: str, ok: bool, took: Any) -> dict[str, Any]:
    return {"kind": kind, "name": name, "ok": ok, "took": took}


# Per scenario, the pattern of its main capture (see scenarios.py for where each is
# taken); "-any" copies of a pod capture must give the same findings.
PATTERNS: dict[str, dict[str, Any]] = {
    "healthy-glibc": {
        "codes": set(),
        "outcomes": {"answered": 8},
        "statuses": {"answered"},
        "resolvers_include": {"10.244.1.17": {"glibc"}},
    },
    "healthy-musl": {
        "codes": set(),
        "outcomes": {"answered": 8},
        "statuses": {"answered"},
        "resolvers_include": {"10.244.1.33": {"musl"}},
    },
    # the race fault is on, but nothing races: the options are the fix
    "single-request": {"codes": set(), "outcomes": {"answered": 3}, "statuses": {"answered"}},
    "single-request-reopen": {
        "codes": set(),
        "outcomes": {"answered": 3},
        "statuses": {"answered"},
    },
    "use-vc": {"codes": set(), "outcomes": {"answered": 3}, "transports": {"tcp"}},
    "timeout1-attempts3": {
        "codes": {"DNS001", "DNS004"},
        "DNS001": {
            "occurrences": 3,
            "seen": 3,
            "lookups_affected": 3,
            "details.lost_qtypes": {"AAAA": 3},
            "details.typical_retry_s": About(1.0, 0.15),
        },
        "DNS004": {"occurrences": 3, "details.typical_gap_s": About(1.0, 0.15)},
        "outcomes": {"answered": 3},
    },
    "race-glibc": {
        "codes": {"DNS001", "DNS004"},
        "DNS001": {
            "occurrences": 2,
            "seen": 4,
            "lookups_affected": 2,
            "seconds_lost": About(10.0, 0.5),
            "clients": ("10.244.1.17",),
            "servers": (VIP,),
            "details.lost_qtypes": {"AAAA": 2},
            "details.typical_retry_s": GLIBC_RETRY,
        },
        "DNS004": {"occurrences": 2, "details.typical_gap_s": GLIBC_RETRY},
        "outcomes": {"answered": 4},
        "resolvers_include": {"10.244.1.17": {"glibc"}},
    },
    "race-musl": {
        "codes": {"DNS001", "DNS004"},
        "DNS001": {
            "occurrences": 2,
            "seen": 4,
            "lookups_affected": 2,
            "seconds_lost": About(5.0, 0.5),
            "clients": ("10.244.1.33",),
            "details.lost_qtypes": {"AAAA": 2},
            "details.typical_retry_s": MUSL_RETRY,
        },
        "DNS004": {"occurrences": 2, "details.typical_gap_s": MUSL_RETRY},
        "outcomes": {"answered": 4},
        "resolvers_include": {"10.244.1.33": {"musl"}},
    },
    "aaaa-dropped-glibc": {
        "codes": {"DNS001", "DNS004"},
        "DNS001": {"occurrences": 1, "details.typical_retry_s": GLIBC_RETRY},
        "DNS004": {"occurrences": 1, "details.typical_gap_s": GLIBC_RETRY},
        "statuses": {"answered", "unanswered"},
        # +5 s both in turn, +10 s each from a new socket, A records returned at 15 s
        "clients": [_client("getent", "api.example.com.", True, About(15.0, 0.5))],
    },
    "aaaa-dropped-musl": {
        "codes": {"DNS001", "DNS004"},
        "DNS001": {"occurrences": 1, "details.typical_retry_s": MUSL_RETRY},
        "DNS004": {"occurrences": 1, "details.typical_gap_s": MUSL_RETRY},
        # the A was answered, yet the whole lookup fails at 5 s (EAI_AGAIN)
        "clients": [_client("musl", "api.example.com.", False, About(5.0, 0.5))],
    },
    "aaaa-first": {
        "codes": {"DNS003"},
        "DNS003": {
            "occurrences": 4,
            "seen": 4,
            "severity": "info",
            "details.with_id_collision": 0,
        },
        "outcomes": {"answered": 4},
    },
    "ndots-search": {
        "codes": {"DNS005"},
        # api.example.com and www.example.com (glibc): 6 NXDOMAIN each; musl's
        # kubernetes.default: 2 more (tests/test_lab.py: the known grouping bug)
        "DNS005": {
            "details.names": Has("api.example.com", "www.example.com"),
            "details.wasted_queries": Between(12, 14),
        },
    },
    "blackhole": {
        # a total outage: the headline names the server, at error; the retries are DNS004
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "severity": "error",
            "servers": (VIP,),
            "details.signature": "outage",
            "lookups_affected": 2,
        },
        "DNS004": {"occurrences": 4, "details.retries": 4},
        "outcomes": {"answered": 0, "nxdomain": 0, "failed": 0, "timed_out": 2},
        "clients": [
            _client("getent", "db.prod.svc.cluster.local.", False, About(10.0, 0.5)),
            _client("musl", "api.example.com.", False, About(5.0, 0.5)),
        ],
    },
    "no-endpoints": {
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "occurrences": 6,
            "servers": (VIP,),
            "summary": Regex("ICMP port unreachable"),
        },
        "DNS004": {"occurrences": 2, "details.typical_gap_s": MUSL_RETRY},
        "statuses": {"icmp_error"},
        "outcomes": {"failed": 2},
        "clients": [
            _client("getent", "db.prod.svc.cluster.local.", False, Between(0, 0.5)),
            _client("musl", "api.example.com.", False, About(5.0, 0.5)),
        ],
    },
    "dns-pod-down": {
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "occurrences": 6,
            "servers": (VIP,),
            "details.icmp": {f"port unreachable from {VIP}": 6},
        },
        "DNS004": {"occurrences": 2, "details.typical_gap_s": MUSL_RETRY},
        "statuses": {"icmp_error"},
        "outcomes": {"failed": 2},
        "clients": [
            _client("getent", "db.prod.svc.cluster.local.", False, Between(0, 0.5)),
            _client("musl", "api.example.com.", False, About(5.0, 0.5)),
        ],
    },
    "first-nameserver-dead": {
        # glibc's failover after 5 s is a retry too (DNS004), to the next server
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "occurrences": 6,
            "servers": (NODELOCAL,),
            "details.signature": "dead nameserver",
            "details.failover_delay_s": GLIBC_RETRY,
        },
        "DNS004": {"occurrences": 2, "details.how": {"failover": 2}},
        "outcomes": {"answered": 3},
        "clients": [
            _client("getent", "db.prod.svc.cluster.local.", True, GLIBC_RETRY),
            _client("musl", "api.example.com.", True, Between(0, 0.5)),
        ],
    },
    "forwarding-loop": {
        # DNS004 counts the pod's own retries after 1 s, not the storm's repeats; the loop
        # is not an outage (no DNS006): the server is busy forwarding to itself
        "codes": {"DNS007", "DNS004"},
        "DNS007": {"severity": "critical", "occurrences": Between(100, 5000)},
        "DNS004": {"details.typical_gap_s": About(1.0, 0.1)},
    },
    "truncated-tcp": {
        "codes": {"DNS008"},
        "DNS008": {"occurrences": 1, "details.names": {"large.example.com": 1}},
        "transports": {"tcp", "udp"},
        "clients": [
            _client("getent", "big.example.com.", True, Between(0, 0.5)),
            _client("musl", "large.example.com.", True, Between(0, 0.5)),
        ],
    },
    "incident": {
        "codes": {"DNS001", "DNS004", "DNS005", "DNS006"},
        # two endpoints: a pair that races may be DNATed to both, and the AAAA answer
        # then sometimes comes first (the kernel's clash resolution, measured)
        "maybe": {"DNS003"},
        "DNS001": {
            "occurrences": 4,
            "lookups_affected": 4,
            "clients": ("10.244.1.17", "10.244.1.33"),
            "details.dropped_before_dnat": 4,
        },
        # the four lost AAAAs, and app-d's two queries that failed over to the VIP
        "DNS004": {"occurrences": 8, "clients": ("10.244.1.17", "10.244.1.33", "10.244.1.50")},
        "DNS005": {"clients": ("10.244.1.40",)},
        "DNS006": {"clients": ("10.244.1.50",), "servers": (NODELOCAL,)},
        "resolvers_include": {
            "10.244.1.17": {"glibc"},
            "10.244.1.33": {"musl"},
            "10.244.1.40": {"glibc"},
            "10.244.1.41": {"glibc"},
            "10.244.1.42": {"musl"},
            "10.244.1.50": {"glibc"},
        },
        "quiet": ("10.244.1.41", "10.244.1.42"),
        "linktype": SLL2,
    },
    # Go (CGO_ENABLED=0) and the one-lookup captures: the wire and the clients only; no
    # "codes" (the analyzer learns Go, and its findings get pinned, after these)
    "healthy-go": {
        "codes": set(),
        "exchanges": {"A answered": 4, "AAAA answered": 4},
        "pairs": {"count": 4, "sockets": 2},
        "requeries": {"count": 0},
        "resends": {"count": 0},
        "resolvers_include": {"10.244.1.60": {"go"}},
        "clients": [_client("go", n, True, Between(0, 0.5)) for n in ("web", *FQDNS)],
    },
    "aaaa-lost-go": {
        # Go's lost AAAA: asked again from a new socket with a new ID, no race (two sockets)
        "codes": {"DNS004"},
        "DNS004": {"occurrences": 1, "details.how": {"new_socket": 1}},
        "resolvers_include": {"10.244.1.60": {"go"}},
        "exchanges": {"A answered": 2, "AAAA unanswered": 2},
        "pairs": {"count": 1, "sockets": 2},
        # the AAAA asked again once, at +5 s, from a new port with a new ID
        "requeries": {"count": 1, "gap_s": GO_RETRY, "servers": In((VIP, VIP)), **GO_REQUERY},
        "resends": {"count": 0},
        "clients": [
            _client("go", "api.example.com.", True, About(10.0, 0.5)),  # the A records
            _client("go4", "db.prod.svc.cluster.local.", True, Between(0, 0.5)),
        ],
    },
    "blackhole-go": {
        "codes": {"DNS006", "DNS004"},
        "DNS006": {"severity": "error", "servers": (VIP,), "details.signature": "outage"},
        "outcomes": {"timed_out": 3},
        "exchanges": {"A unanswered": 6, "AAAA unanswered": 6},
        "pairs": {"count": 6, "sockets": 2},
        "requeries": {"count": 6, "gap_s": GO_RETRY, "servers": In((VIP, VIP)), **GO_REQUERY},
        "resends": {"count": 0},
        "clients": [_client("go", n, False, About(10.0, 0.5)) for n in FQDNS],
    },
    "failover-go": {
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "servers": (NODELOCAL,),
            "details.signature": "dead nameserver",
            "details.failover_delay_s": About(2.0, 0.1),
            "lookups_affected": 3,
        },
        "DNS004": {"details.how": {"failover": 6}},
        "exchanges": {
            "A answered": 3,
            "AAAA answered": 3,
            "A unanswered": 3,
            "AAAA unanswered": 3,
        },
        "pairs": {"count": 6, "sockets": 2},
        # each question asked of the dead first, then of the VIP after timeout:2
        "requeries": {"count": 6, "gap_s": TIMEOUT2, "servers": FAILOVER, **GO_REQUERY},
        "resends": {"count": 0},
        "clients": [
            _client("go", n, True, About(2.0, 0.5))
            for n in ("db.prod.svc.cluster.local.", "api.example.com.", "web")
        ],
    },
    "failover-glibc": {
        # one lookup is enough: the failover after timeout:2 is conclusive
        "codes": {"DNS006", "DNS004"},
        "DNS006": {
            "severity": "error",
            "servers": (NODELOCAL,),
            "details.failover_delay_s": About(2.0, 0.1),
            "lookups_affected": 1,
        },
        "resolvers_include": {"10.244.1.17": {"glibc"}},
        "exchanges": {
            "A answered": 1,
            "AAAA answered": 1,
            "A unanswered": 1,
            "AAAA unanswered": 1,
        },
        "pairs": {"count": 2, "sockets": 1},
        # the same IDs to the second nameserver, from a new socket, after timeout:2
        "requeries": {
            "count": 2,
            "gap_s": TIMEOUT2,
            "servers": FAILOVER,
            "port": "new",
            "id": "same",
        },
        "resends": {"count": 0},
        "clients": [_client("getent", "api.example.com.", True, About(2.0, 0.5))],
    },
    "failover-musl-one": {
        # the dead one never answers while the VIP answers the same questions at once
        "codes": {"DNS006"},
        "DNS006": {"severity": "error", "servers": (NODELOCAL,), "seconds_lost": 0.0},
        "exchanges": {
            "A answered": 1,
            "AAAA answered": 1,
            "A unanswered": 1,
            "AAAA unanswered": 1,
        },
        "pairs": {"count": 2, "sockets": 1},
        # both nameservers at once, one ID and port per question
        "requeries": {
            "count": 2,
            "gap_s": Between(0, 0.01),
            "servers": FAILOVER,
            "port": "same",
            "id": "same",
        },
        "resends": {"count": 0},
        "clients": [_client("musl", "api.example.com.", True, Between(0, 0.5))],
    },
    "blackhole-one": {
        "codes": {"DNS006", "DNS004"},
        "DNS006": {"severity": "error", "servers": (VIP,), "details.signature": "outage"},
        "outcomes": {"timed_out": 1},
        "exchanges": {"A unanswered": 1, "AAAA unanswered": 1},
        "pairs": {"count": 1, "sockets": 1},
        "requeries": {"count": 0},
        # both resent at +5 s on the same socket, same IDs; getaddrinfo fails at 10 s
        "resends": {"count": 2, "gap_s": GLIBC_RETRY},
        "clients": [_client("getent", "api.example.com.", False, About(10.0, 0.5))],
    },
}

# Node captures see each query before and after DNAT: where the race's loser vanished
NODE_PATTERNS: dict[str, dict[str, Any]] = {
    "race-glibc": {"DNS001": {"occurrences": 2, "details.dropped_before_dnat": 2}},
    "race-musl": {"DNS001": {"occurrences": 2, "details.dropped_before_dnat": 2}},
    "timeout1-attempts3": {"DNS001": {"occurrences": 3, "details.dropped_before_dnat": 3}},
    "aaaa-dropped-glibc": {"DNS001": {"details.dropped_before_dnat": 1}},
    "aaaa-dropped-musl": {"DNS001": {"details.dropped_before_dnat": 1}},
}


PAIR_WINDOW_S = 0.05


def _wire(tx: Any) -> dict[str, Any]:
    """The wire-level facts the ``exchanges``, ``requeries``, ``resends`` and ``pairs``
    keys are checked against (see the module's docstring)."""
    tx = tx[tx["copy_of"] == -1].sort_values("query_ts", kind="stable")
    exchanges: dict[str, int] = {}
    requeries: list[dict[str, Any]] = []
    resends: list[dict[str, Any]] = []
    last: dict[tuple[str, str, str], Any] = {}
    firsts: dict[tuple[str, str, str, str], list[tuple[float, int]]] = {}
    for row in tx.itertuples(index=False):
        status = str(row.status)
        status = "unanswered" if status == "pending" else status
        key = f"{row.qtype} {status}"
        exchanges[key] = exchanges.get(key, 0) + 1
        sent = row.query_ts.value / 1e9
        resends += [{"gap_s": float(g)} for g in row.retry_gaps]
        question = (str(row.client), str(row.qname), str(row.qtype))
        prev = last.get(question)
        if prev is not None and str(prev.status) != "answered":
            prev_sent = prev.query_ts.value / 1e9 + sum(float(g) for g in prev.retry_gaps)
            requeries.append(
                {
                    "gap_s": round(sent - prev_sent, 6),
                    "port": "same" if row.client_port == prev.client_port else "new",
                    "id": "same" if row.id == prev.id else "new",
                    "servers": (str(prev.server), str(row.server)),
                }
            )
        last[question] = row
        where = (str(row.client), str(row.server), str(row.qname), str(row.qtype))
        firsts.setdefault(where, []).append((sent, int(row.client_port)))
    pairs: list[dict[str, Any]] = []
    for (client, server, name, qtype), sends in firsts.items():
        if qtype != "A":
            continue
        for t, port in sends:
            other = firsts.get((client, server, name, "AAAA"), [])
            near = [p for u, p in other if abs(u - t) <= PAIR_WINDOW_S]
            if near:
                pairs.append({"sockets": 1 if near[0] == port else 2})
    return {"exchanges": exchanges, "requeries": requeries, "resends": resends, "pairs": pairs}


def _check_wire(tx: Any, pattern: dict[str, Any]) -> list[str]:
    if not any(k in pattern for k in WIRE_KEYS):
        return []
    wire, problems = _wire(tx), []
    if "exchanges" in pattern and wire["exchanges"] != pattern["exchanges"]:
        problems.append(f"exchanges {wire['exchanges']}, expected {pattern['exchanges']}")
    for key in ("requeries", "resends", "pairs"):
        want, got = pattern.get(key), wire[key]
        if want is None:
            continue
        if not _ok(want.get("count", len(got)), len(got)):
            problems.append(f"{len(got)} {key}, expected {want['count']}")
        for i, item in enumerate(got):
            for name, matcher in want.items():
                if name != "count" and not _ok(matcher, item[name]):
                    problems.append(f"{key}[{i}] {name} = {item[name]!r}, expected {matcher}")
    return problems


WIRE_KEYS = ("exchanges", "requeries", "resends", "pairs")

# The vantage runs (scenarios.VANTAGE: a race seen at once in the pod, the node and the
# DNS pod): the pod and node captures as the race's own; the DNS pod sees every query
# that got through DNAT, the lost AAAAs only when resent
for _race in ("race-glibc", "race-musl"):
    PATTERNS[f"{_race}-vantage"] = PATTERNS[_race]
    NODE_PATTERNS[f"{_race}-vantage"] = NODE_PATTERNS[_race]
PATTERNS["race-glibc-vantage-dns"] = {
    # the A of each raced pair is asked again with the AAAA at +5 s (answered anew)
    "exchanges": {"A answered": 6, "AAAA answered": 4},
    "pairs": {"count": 4, "sockets": 1},
    "requeries": {"count": 0},
    "resends": {"count": 0},
}
PATTERNS["race-musl-vantage-dns"] = {
    # only the lost AAAA is asked again: two pairs arrive whole, two A alone
    "exchanges": {"A answered": 4, "AAAA answered": 4},
    "pairs": {"count": 2, "sockets": 1},
    "requeries": {"count": 0},
    "resends": {"count": 0},
}


def pattern_for(stem: str) -> dict[str, Any] | None:
    """The pattern of one capture, by file stem (``race-glibc``, ``race-glibc-node``, ...)."""
    if stem in PATTERNS:
        p = dict(PATTERNS[stem])
        p.setdefault("linktype", EN10MB)
        return p
    for suffix in ("-any", "-node"):
        base = stem.removesuffix(suffix)
        if stem.endswith(suffix) and base in PATTERNS:
            p = dict(PATTERNS[base])
            p["linktype"] = SLL2
            if suffix == "-node":  # both sides of the DNAT: the kinds of finding, the wire
                keep = ("codes", "maybe", "linktype", *WIRE_KEYS)
                p = {k: v for k, v in p.items() if k in keep}
                p.update(NODE_PATTERNS.get(base, {}))
            return p
    return None


def linktype_of(path: Path) -> int:
    head = path.read_bytes()[:24]
    if len(head) < 24:
        return -1
    order = "<" if head[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    return int(struct.unpack(order + "I", head[20:24])[0])


def check(
    report: Any,
    pattern: dict[str, Any],
    linktype: int | None = None,
    clients: list[dict[str, Any]] | None = None,
) -> list[str]:
    """What in this report does not fit the pattern (empty: it fits). ``clients``: the
    lab's record of what each client got (lab.json), checked when given."""
    problems: list[str] = []
    by_code: dict[str, list[Any]] = {}
    for f in report.findings:
        by_code.setdefault(f.code, []).append(f)
    if "linktype" in pattern and linktype is not None and linktype != pattern["linktype"]:
        problems.append(f"link type {linktype}, expected {pattern['linktype']}")
    if "codes" in pattern:
        want, maybe = set(pattern["codes"]), set(pattern.get("maybe", ()))
        if not want <= set(by_code) <= want | maybe:
            problems.append(f"findings {sorted(by_code)}, expected {sorted(want)}")
    for code, fields in pattern.items():
        if not code.startswith("DNS"):
            continue
        if code not in by_code:
            problems.append(f"{code} missing")
            continue
        for f in by_code[code]:
            for name, matcher in fields.items():
                value = _field(f, name)
                if not _ok(matcher, value):
                    problems.append(f"{code} {name} = {value!r}, expected {matcher}")
    lk, tx = report.lookups, report.transactions
    for client, want in pattern.get("resolvers_include", {}).items():
        got = set(lk.loc[lk["client"].astype(str) == client, "resolver"].astype(str))
        if not want <= got:
            problems.append(
                f"{client} fingerprinted {sorted(got)}, expected {sorted(want)} among them"
            )
    for outcome, matcher in pattern.get("outcomes", {}).items():
        n = int((lk["outcome"].astype(str) == outcome).sum())
        if not _ok(matcher, n):
            problems.append(f"{n} lookups {outcome}, expected {matcher}")
    for col, key in (("transport", "transports"), ("status", "statuses")):
        if key in pattern:
            got = set(tx[col].astype(str))
            if got != pattern[key]:
                problems.append(f"{key} {sorted(got)}, expected {sorted(pattern[key])}")
    problems += _check_wire(tx, pattern)
    for client in pattern.get("quiet", ()):
        named = [f.code for f in report.findings if client in f.clients]
        if named:
            problems.append(f"{client} should be in no finding, is in {named}")
    if clients is not None:
        for want in pattern.get("clients", ()):
            runs = [c for c in clients if (c["kind"], c["name"]) == (want["kind"], want["name"])]
            if not runs:
                problems.append(f"no record of {want['kind']} {want['name']}")
                continue
            ok, took = runs[0]["rc"] == 0, runs[0]["took_s"]
            if ok != want["ok"] or not _ok(want["took"], took):
                problems.append(
                    f"{want['kind']} {want['name']}: {'ok' if ok else 'failed'} after {took} s, "
                    f"expected {'ok' if want['ok'] else 'failed'} after {want['took']}"
                )
    return problems


def summary(report: Any) -> str:
    """One line: each finding's code, occurrences/seen, clients."""
    parts = [f"{f.code} {f.occurrences}/{f.seen} [{','.join(f.clients)}]" for f in report.findings]
    lk = report.lookups
    outcomes = lk["outcome"].astype(str).value_counts().to_dict() if len(lk) else {}
    return (", ".join(parts) or "no finding") + f"; lookups {outcomes}"


def verify(
    path: Path, pattern: dict[str, Any] | None, clients: list[dict[str, Any]] | None = None
) -> tuple[list[str], str]:
    """Analyze one capture and check it: (problems, one-line summary)."""
    from dnspcap import analyze

    if not path.exists() or path.stat().st_size <= 24:
        return [f"{path.name}: missing or empty"], ""
    report = analyze(path)
    line = summary(report)
    if pattern is None:
        return [f"{path.name}: no expected pattern"], line
    return check(report, pattern, linktype_of(path), clients), line
