"""The lab's scenarios, as data: who resolves what, through which faults.

Every scenario gets its own namespaces (pods, a node, DNS endpoints), so they run at
once. The node does kube-proxy's DNAT of the kube-dns Service VIP to the endpoints;
faults are nft rules in the node (blackhole, reject, a quota that bounds a loop) or
the NFQUEUE program ``dnsfault.c`` (per-qtype drops, delays, the conntrack race).
Resolver timings these scenarios show are REFERENCE.md §2's measured table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

VIP = "10.96.0.10"  # the kube-dns Service
NODELOCAL = "169.254.20.10"  # NodeLocal DNSCache's address: dead where it appears here
ENDPOINTS = ("10.244.0.5", "10.244.0.6")  # CoreDNS pods, played by dnsmasq
SEARCH = "default.svc.cluster.local svc.cluster.local cluster.local"


def resolv_conf(options: str = "ndots:5", nameservers: tuple[str, ...] = (VIP,)) -> str:
    """A Kubernetes pod's resolv.conf (ClusterFirst), with extra options."""
    lines = [f"nameserver {ns}" for ns in nameservers]
    return "\n".join([*lines, f"search {SEARCH}", f"options {options}", ""])


@dataclass(frozen=True)
class Pod:
    name: str
    ip: str
    resolv: str = field(default_factory=resolv_conf)


@dataclass(frozen=True)
class Client:
    """One application in a pod resolving names in turn, each in a new process.

    kind: ``getent`` (glibc ``getent ahosts``), ``python`` (glibc ``getaddrinfo``
    from Python), ``python4`` (the same for AF_INET: A only), ``musl`` (``gai.c``
    built with ``musl-gcc -static``), ``go`` (``gogai.go``: Go's own resolver, built
    with ``CGO_ENABLED=0``) or ``go4`` (the same for ``ip4``: A only)."""

    pod: str
    kind: str
    names: tuple[str, ...]
    pause: float = 0.3  # seconds between two names
    start: float = 0.0  # seconds after the capture started
    until: float = 0.0  # no new name after this many seconds (0: every name)


@dataclass(frozen=True)
class Fault:
    """An NFQUEUE program on the node with these rules (see dnsfault.c) for queries
    from these pods (all pods when empty)."""

    rules: tuple[str, ...]
    pods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Capture:
    """tcpdump in a namespace (``pod:<name>``, ``node`` or ``dns:<i>``) on an interface;
    the file is ``<scenario><suffix>.pcap``."""

    suffix: str
    where: str
    iface: str


POD_CAPTURES = (Capture("", "pod:app", "eth0"), Capture("-any", "pod:app", "any"))
NODE_CAPTURE = Capture("-node", "node", "any")
DEFAULT_CAPTURES = (*POD_CAPTURES, NODE_CAPTURE)


@dataclass(frozen=True)
class Scenario:
    name: str
    shows: str
    clients: tuple[Client, ...]
    pods: tuple[Pod, ...] = (Pod("app", "10.244.1.17"),)
    endpoints: int = 1  # DNS endpoints behind the VIP
    endpoints_up: bool = True  # False: the DNS pod is gone, its endpoint still listed
    service: str = "dnat"  # dnat | reject (no endpoints) | blackhole (dropped on the node)
    faults: tuple[Fault, ...] = ()
    forward_loop: bool = False  # the DNS server forwards loop.example.net to the VIP
    captures: tuple[Capture, ...] = DEFAULT_CAPTURES
    tail: float = 0.5  # seconds captured after the last client finished
    soak: float = 0.0  # seconds its clients run for (soak()): longer than any other's

    @property
    def duration_hint(self) -> float:
        """Rough seconds the clients take (long scenarios are started first)."""
        slow = {"race", "drop", "lost", "blackhole", "dead", "failover", "down", "reject",
                "truncat", "incident"}  # fmt: skip
        return 15.0 if any(s in self.name for s in slow) else 2.0


FQDNS = ("db.prod.svc.cluster.local.", "api.example.com.", "web.default.svc.cluster.local.")
RACE = Fault(("race:AAAA:1",))  # every parallel A+AAAA pair loses its AAAA once
MUSL = Pod("app", "10.244.1.33")
GO = Pod("app", "10.244.1.60")  # a CGO_ENABLED=0 image (distroless, a controller)
FAILOVER = (NODELOCAL, VIP)  # a stale first nameserver (TKE's NodeLocal DNSCache incident)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "healthy-glibc",
        "glibc (getent ahosts, Python getaddrinfo) resolving a same-namespace Service by "
        "its short name and three FQDNs through two CoreDNS endpoints; all answered at once",
        (
            Client("app", "getent", ("web", *FQDNS)),
            Client("app", "python", ("web", *FQDNS), start=2.0),
        ),
        endpoints=2,
    ),
    Scenario(
        "healthy-musl",
        "musl (Alpine) resolving the same names through two endpoints; all answered at once",
        (Client("app", "musl", ("web", *FQDNS, "web", *FQDNS)),),
        pods=(MUSL,),
        endpoints=2,
    ),
    Scenario(
        "single-request",
        "glibc with `options single-request` behind the same race fault as race-glibc: A, "
        "then AAAA after the A answer on the same port, so nothing races and nothing is lost",
        (Client("app", "getent", FQDNS),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 single-request")),),
        faults=(RACE,),
    ),
    Scenario(
        "single-request-reopen",
        "glibc with `options single-request-reopen` behind the race fault: the AAAA goes "
        "from a new socket after the A answer; nothing is lost",
        (Client("app", "getent", FQDNS),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 single-request-reopen")),),
        faults=(RACE,),
    ),
    Scenario(
        "use-vc",
        "glibc with `options use-vc` behind the race fault: every lookup over TCP, A and "
        "AAAA pipelined on one connection; nothing is lost",
        (Client("app", "getent", FQDNS),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 use-vc")),),
        faults=(RACE,),
    ),
    Scenario(
        "timeout1-attempts3",
        "glibc with `options timeout:1 attempts:3` behind the race fault: each AAAA lost "
        "once, both queries resent in turn 1 s later",
        (Client("app", "getent", FQDNS),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 timeout:1 attempts:3")),),
        faults=(RACE,),
    ),
    Scenario(
        "race-glibc",
        "the conntrack race for glibc: four lookups by FQDN, the AAAA of every second "
        "parallel pair dropped on the node after DNAT (as the race's loser is); glibc "
        "resends both queries in turn on the same socket 5 s later",
        (Client("app", "getent", ("db.prod.svc.cluster.local.",) * 4),),
        faults=(Fault(("race:AAAA:2",)),),
    ),
    Scenario(
        "race-musl",
        "the conntrack race for musl: four lookups, the AAAA of every second pair "
        "dropped; musl resends only that AAAA, same ID and port, 2.5 s later",
        (Client("app", "musl", ("db.prod.svc.cluster.local.",) * 4),),
        pods=(MUSL,),
        faults=(Fault(("race:AAAA:2",)),),
    ),
    Scenario(
        "aaaa-dropped-glibc",
        "every AAAA query dropped on the node: glibc resends both in turn at +5 s, then "
        "each from a new socket at +10 s, and returns the A records at 15 s",
        (
            Client("app", "getent", ("api.example.com.",)),
            # a later A-only lookup: the capture goes on past the last AAAA's timeout
            Client("app", "python4", ("db.prod.svc.cluster.local.",), start=16.0),
        ),
        faults=(Fault(("drop:AAAA",)),),
    ),
    Scenario(
        "aaaa-dropped-musl",
        "every AAAA query dropped: musl resends the AAAA at 2.5 s and fails the whole "
        "lookup at 5 s (EAI_AGAIN) although the A was answered",
        (
            Client("app", "musl", ("api.example.com.",)),
            Client("app", "python4", ("db.prod.svc.cluster.local.",), start=8.0),
        ),
        pods=(MUSL,),
        faults=(Fault(("drop:AAAA",)),),
    ),
    Scenario(
        "aaaa-first",
        "A queries held 30 ms on the node, so the AAAA answer of every pair comes first: "
        "a glibc container and a musl sidecar in one pod",
        (
            Client("app", "getent", FQDNS[:2]),
            Client(
                "app",
                "musl",
                ("www.example.com.", "kubernetes.default.svc.cluster.local."),
                start=1.0,
            ),
        ),
        faults=(Fault(("delay:A:30",)),),
    ),
    Scenario(
        "ndots-search",
        "ndots:5: glibc and musl resolving external names without a trailing dot walk "
        "the three search suffixes (NXDOMAIN) before the name itself",
        (
            Client("app", "getent", ("api.example.com", "www.example.com")),
            Client("app", "musl", ("kubernetes.default",), start=1.0),
        ),
    ),
    Scenario(
        "blackhole",
        "the node drops everything sent to the kube-dns VIP: glibc resends at 5 s and "
        "fails at 10 s, musl resends at 2.5 s and fails at 5 s; nothing answers at all",
        (
            Client("app", "getent", ("db.prod.svc.cluster.local.",)),
            Client("app", "musl", ("api.example.com.",), start=0.5),
        ),
        service="blackhole",
    ),
    Scenario(
        "no-endpoints",
        "the kube-dns Service has no endpoints: the node rejects its traffic with ICMP "
        "port unreachable (kube-proxy's rule); glibc fails at once, musl ignores the "
        "ICMP, resends at 2.5 s and fails at 5 s",
        (
            Client("app", "getent", ("db.prod.svc.cluster.local.",)),
            Client("app", "musl", ("api.example.com.",), start=0.5),
        ),
        endpoints=0,
        service="reject",
    ),
    Scenario(
        "dns-pod-down",
        "the DNS pod is gone but still an endpoint: DNAT sends the queries to an address "
        "where nothing listens, whose kernel answers ICMP port unreachable, un-NATed by "
        "the node; glibc fails at once, musl at 5 s",
        (
            Client("app", "getent", ("db.prod.svc.cluster.local.",)),
            Client("app", "musl", ("api.example.com.",), start=0.5),
        ),
        endpoints_up=False,
    ),
    Scenario(
        "first-nameserver-dead",
        "two nameservers, the first (a NodeLocal DNSCache address) dead: glibc waits 5 s "
        "on it, then asks the second from a new port; musl asks both at once",
        (
            Client("app", "getent", ("db.prod.svc.cluster.local.",)),
            Client("app", "musl", ("api.example.com.", "www.example.com."), start=0.5),
        ),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5", (NODELOCAL, VIP))),),
    ),
    Scenario(
        "forwarding-loop",
        "the DNS server forwards loop.example.net to the kube-dns VIP, i.e. to itself "
        "(seed 003); glibc's retry sets off a storm of one ID, cut by an nft quota on "
        "the node; captured in the DNS pod",
        (Client("app", "getent", ("www.loop.example.net.",)),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 timeout:1 attempts:2")),),
        forward_loop=True,
        captures=(Capture("", "dns:0", "eth0"), NODE_CAPTURE),
        tail=1.0,
    ),
    Scenario(
        "truncated-tcp",
        "answers of 40 A records do not fit in 512 bytes: TC=1; glibc retries over TCP "
        "(A and AAAA pipelined), musl 1.2.3 takes the truncated answer and never does; a "
        "last lookup 6 s later shows no retry came",
        (
            Client("app", "getent", ("big.example.com.",)),
            Client("app", "musl", ("large.example.com.",), start=1.0),
            Client("app", "getent", ("db.prod.svc.cluster.local.",), start=7.5),
        ),
    ),
    Scenario(
        "incident",
        "one node, six pods at once: app-a (glibc) and alpine-a (musl) lose AAAAs to the "
        "race, app-b (glibc) walks the ndots:5 search list, app-d (glibc) has a dead "
        "NodeLocal DNSCache address first in resolv.conf; app-c (glibc, Python) and "
        "alpine-b (musl) are healthy; two CoreDNS endpoints; captured on the node",
        (
            Client("app-a", "getent", ("db.prod.svc.cluster.local.",) * 4),
            Client("alpine-a", "musl", ("db.prod.svc.cluster.local.",) * 4, start=0.2),
            Client("app-b", "getent", ("api.example.com", "www.example.com"), start=0.4),
            Client("app-c", "python", ("web", *FQDNS), start=0.6, pause=2.0),
            Client("alpine-b", "musl", ("web", *FQDNS), start=0.8, pause=2.0),
            Client(
                "app-d", "getent", ("api.example.com.", "db.prod.svc.cluster.local."), start=1.0
            ),
        ),
        pods=(
            Pod("app-a", "10.244.1.17"),
            Pod("alpine-a", "10.244.1.33"),
            Pod("app-b", "10.244.1.40"),
            Pod("app-c", "10.244.1.41"),
            Pod("alpine-b", "10.244.1.42"),
            Pod("app-d", "10.244.1.50", resolv_conf("ndots:5", (NODELOCAL, VIP))),
        ),
        endpoints=2,
        faults=(Fault(("race:AAAA:2",), ("app-a",)), Fault(("race:AAAA:2",), ("alpine-a",))),
        captures=(Capture("", "node", "any"),),
    ),
    Scenario(
        "healthy-go",
        "Go's own resolver (CGO_ENABLED=0) resolving a same-namespace Service by its short "
        "name (answered at its first search step) and three FQDNs through two endpoints: "
        "A and AAAA from two sockets, a new port and ID per query; all answered at once",
        (Client("app", "go", ("web", *FQDNS)),),
        pods=(GO,),
        endpoints=2,
    ),
    Scenario(
        "aaaa-lost-go",
        "every AAAA query dropped on the node: Go asks the AAAA again at +5 s from a new "
        "port with a new ID and returns the A records alone at 10 s; an A-only lookup "
        "at +11 s",
        (
            Client("app", "go", ("api.example.com.",)),
            # a later A-only lookup: the capture goes on past the last AAAA's timeout
            Client("app", "go4", ("db.prod.svc.cluster.local.",), start=11.0),
        ),
        pods=(GO,),
        faults=(Fault(("drop:AAAA",)),),
    ),
    Scenario(
        "blackhole-go",
        "the node drops everything sent to the kube-dns VIP: three Go lookups in turn, "
        "each A and AAAA at 0 s, again at +5 s from new ports with new IDs, failing at 10 s",
        (Client("app", "go", FQDNS),),
        pods=(GO,),
        service="blackhole",
    ),
    Scenario(
        "failover-go",
        "two nameservers, the first (a NodeLocal DNSCache address) dead, `timeout:2`: "
        "every Go lookup waits 2 s on it, then asks the VIP from new ports with new IDs",
        (Client("app", "go", ("db.prod.svc.cluster.local.", "api.example.com.", "web")),),
        pods=(Pod("app", GO.ip, resolv_conf("ndots:5 timeout:2", FAILOVER)),),
    ),
    Scenario(
        "failover-glibc",
        "one glibc lookup (what one `curl` makes) with a dead NodeLocal DNSCache address "
        "first, `timeout:2 attempts:2`: A and AAAA to it, both asked again of the VIP 2 s "
        "later with the same IDs from a new port",
        (Client("app", "getent", ("api.example.com.",)),),
        pods=(Pod("app", "10.244.1.17", resolv_conf("ndots:5 timeout:2 attempts:2", FAILOVER)),),
    ),
    Scenario(
        "failover-musl-one",
        "one musl lookup with the dead NodeLocal DNSCache address first: musl asks both "
        "nameservers at once, same ID and port; the VIP answers, the first never does",
        (Client("app", "musl", ("api.example.com.",)),),
        pods=(Pod("app", MUSL.ip, resolv_conf("ndots:5", FAILOVER)),),
    ),
    Scenario(
        "blackhole-one",
        "one glibc lookup, its only nameserver blackholed on the node: A and AAAA, both "
        "again at +5 s on the same socket with the same IDs, failing at 10 s; a total "
        "outage as a one-lookup capture shows it",
        (Client("app", "getent", ("api.example.com.",)),),
        service="blackhole",
    ),
)

# One run of a race seen from the three places a capture is taken, at once: the pod,
# the node (both sides of DNAT) and the DNS pod. Played only when named (--only).
VANTAGE_CAPTURES = (
    Capture("", "pod:app", "eth0"),
    NODE_CAPTURE,
    Capture("-dns", "dns:0", "eth0"),
)
VANTAGE: tuple[Scenario, ...] = tuple(
    replace(
        s,
        name=f"{s.name}-vantage",
        shows=f"{s.shows}; captured at once in the pod, in the node and in the DNS pod",
        captures=VANTAGE_CAPTURES,
    )
    for s in SCENARIOS
    if s.name in ("race-glibc", "race-musl")
)


def soak(seconds: float, every: int, pause: float = 0.1) -> Scenario:
    """Lookups without end, the race fault on every ``every``-th parallel pair: what
    ``dnspcap watch`` watches for a long time (``run.py --soak SECONDS --race-every N``,
    benchmarks/soak_watch.py). Two glibc clients in one pod, one capture in the pod."""
    n = max(1, int(seconds / pause))
    names = (FQDNS * (n // len(FQDNS) + 1))[:n]
    return Scenario(
        "soak-race",
        f"{seconds:g} s of glibc lookups, the AAAA of every {every}th parallel pair dropped",
        (
            Client("app", "getent", names, pause, until=seconds),
            Client("app", "python", names, pause, 0.05, until=seconds),
        ),
        faults=(Fault((f"race:AAAA:{every}",)),),
        captures=(Capture("", "pod:app", "eth0"),),
        soak=seconds,
    )


BY_NAME = {s.name: s for s in (*SCENARIOS, *VANTAGE)}
