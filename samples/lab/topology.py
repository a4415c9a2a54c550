"""Namespaces, links, rules and processes of the lab, and taking them all down again.

Everything the lab creates carries its name prefix: namespaces ``<prefix>-<scenario>-<role>``,
their files under ``/etc/netns/<namespace>/`` (``ip netns exec`` bind-mounts those over
``/etc``: that is how each pod gets its own resolv.conf), and the work directory
``/tmp/<prefix>-lab-*``. Interfaces, addresses, routes and nft/iptables rules live
inside the namespaces and go with them. Processes are tracked by PID and stopped by
PID; a process left in one of our namespaces (a client's child, a dnsmasq TCP worker)
is found with ``ip netns pids`` and stopped by PID too.

Nothing leaves the namespaces: the node has no uplink and no default route, the pods
and DNS pods route only 10.0.0.0/8 and 169.254.20.0/24 to the node.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from scenarios import ENDPOINTS, NODELOCAL, VIP, Scenario

PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
NETNS_ETC = Path("/etc/netns")
CMD_TIMEOUT = 15.0  # seconds for any one ip/nft/iptables command


class LabError(RuntimeError):
    """A lab step failed (the message names the command and its output)."""


def run(
    argv: Sequence[str],
    *,
    timeout: float = CMD_TIMEOUT,
    check: bool = True,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    p = subprocess.run(
        list(argv),
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and p.returncode != 0:
        raise LabError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


def in_ns(ns: str, argv: Sequence[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


class Lab:
    """What one run created, so that all of it can be taken down."""

    def __init__(self, prefix: str, work: Path) -> None:
        if not PREFIX_RE.match(prefix):
            raise LabError(f"prefix {prefix!r}: use 1-12 lower-case letters and digits")
        self.prefix = prefix
        self.work = work
        self._lock = threading.Lock()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._namespaces: list[str] = []
        self.stopping = threading.Event()
        self._made_netns_etc = not NETNS_ETC.exists()

    # --- namespaces -----------------------------------------------------------
    def netns(self, name: str) -> str:
        ns = f"{self.prefix}-{name}"
        with self._lock:
            self._namespaces.append(ns)
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        return ns

    def drop_namespaces(self, namespaces: Sequence[str]) -> None:
        for ns in namespaces:
            kill_namespace_processes(ns)
            run(["ip", "netns", "del", ns], check=False)
            shutil.rmtree(NETNS_ETC / ns, ignore_errors=True)
            with self._lock:
                if ns in self._namespaces:
                    self._namespaces.remove(ns)

    # --- processes ------------------------------------------------------------
    def spawn(self, argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running process (tcpdump, dnsmasq, dnsfault), output to log."""
        if self.stopping.is_set():
            raise LabError("stopping")
        with open(log, "wb") as out:
            p = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        with self._lock:
            self._procs.append(p)
        return p

    def stop(
        self, p: subprocess.Popen[bytes], sig: int = signal.SIGTERM, wait: float = 5.0
    ) -> None:
        """Stop one process by its PID: sig, then SIGKILL if it is still there."""
        if p.poll() is None:
            try:
                p.send_signal(sig)
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=wait)
        with self._lock:
            if p in self._procs:
                self._procs.remove(p)

    def teardown(self) -> None:
        """Stop every process, delete every namespace and its files, remove the work dir."""
        self.stopping.set()
        with self._lock:
            procs, namespaces = list(self._procs), list(self._namespaces)
        for p in procs:
            self.stop(p, wait=3.0)
        self.drop_namespaces(namespaces)
        if self._made_netns_etc and NETNS_ETC.is_dir() and not any(NETNS_ETC.iterdir()):
            NETNS_ETC.rmdir()
        shutil.rmtree(self.work, ignore_errors=True)


def kill_namespace_processes(ns: str) -> None:
    """Stop, by PID, whatever still runs in one of our namespaces (bounded: 3 rounds)."""
    for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGKILL):
        p = run(["ip", "netns", "pids", ns], check=False)
        pids = [int(x) for x in p.stdout.split() if x.isdigit()]
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.3)


def cleanup(prefix: str) -> list[str]:
    """Remove everything a run with this prefix may have left (for --cleanup)."""
    if not PREFIX_RE.match(prefix):
        raise LabError(f"prefix {prefix!r}: use 1-12 lower-case letters and digits")
    removed = []
    listing = run(["ip", "netns", "list"], check=False).stdout.split("\n")
    for line in listing:
        ns = line.split(" ")[0]
        if ns.startswith(f"{prefix}-"):
            kill_namespace_processes(ns)
            run(["ip", "netns", "del", ns], check=False)
            removed.append(f"netns {ns}")
    if NETNS_ETC.is_dir():
        for d in NETNS_ETC.glob(f"{prefix}-*"):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(str(d))
        if not any(NETNS_ETC.iterdir()):
            NETNS_ETC.rmdir()
    for d in Path("/tmp").glob(f"{prefix}-lab-*"):
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
    return removed


# --- building one scenario's network ------------------------------------------
POD_GW = "10.244.1.1"  # the node's end of every pod veth (one /32 per pod, as Calico does)
DNS_GW = "10.244.0.1"  # the node's end of every DNS pod veth


class Network:
    """One scenario's namespaces: ``pods`` by name, ``node``, ``dns`` (one per endpoint)."""

    def __init__(self, lab: Lab, scn: Scenario) -> None:
        self.lab, self.scn = lab, scn
        self.node = ""
        self.pods: dict[str, str] = {}
        self.dns: list[str] = []

    @property
    def namespaces(self) -> list[str]:
        return [self.node, *self.pods.values(), *self.dns]

    def where(self, spec: str) -> str:
        """The namespace of a capture's ``where``: ``node``, ``pod:<name>``, ``dns:<i>``."""
        if spec == "node":
            return self.node
        kind, _, name = spec.partition(":")
        return self.pods[name] if kind == "pod" else self.dns[int(name)]

    def build(self) -> None:
        lab, scn = self.lab, self.scn
        self.node = lab.netns(f"{scn.name}-node")
        sysctl(self.node, "net/ipv4/ip_forward", "1")
        sysctl(self.node, "net/ipv6/conf/all/disable_ipv6", "1")
        # Service addresses are blackholed: kube-proxy's DNAT (or a reject or drop rule)
        # in prerouting decides their fate first; what it lets through disappears here
        for net in ("10.96.0.0/12", f"{NODELOCAL}/32"):
            run(["ip", "-n", self.node, "route", "add", "blackhole", net])
        for i, pod in enumerate(scn.pods):
            ns = lab.netns(f"{scn.name}-{pod.name}")
            self.pods[pod.name] = ns
            self._veth(ns, f"vp{i}", pod.ip, POD_GW)
            etc = NETNS_ETC / ns
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "resolv.conf").write_text(pod.resolv)
            (etc / "hosts").write_text("127.0.0.1\tlocalhost\n")
            (etc / "nsswitch.conf").write_text("hosts: files dns\n")
        for j in range(scn.endpoints):
            ns = lab.netns(f"{scn.name}-dns{j}")
            self.dns.append(ns)
            self._veth(ns, f"vd{j}", ENDPOINTS[j], DNS_GW)
        run(in_ns(self.node, ["nft", "-f", "-"]), stdin=self.ruleset())

    def _veth(self, ns: str, node_if: str, ip: str, gw: str) -> None:
        node = self.node
        run(
            [
                "ip",
                "link",
                "add",
                "eth0",
                "netns",
                ns,
                "type",
                "veth",
                "peer",
                "name",
                node_if,
                "netns",
                node,
            ]
        )
        run(["ip", "-n", ns, "addr", "add", f"{ip}/32", "dev", "eth0"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "route", "add", gw, "dev", "eth0"])
        for net in ("10.0.0.0/8", "169.254.20.0/24"):  # no default route: nothing leaves
            run(["ip", "-n", ns, "route", "add", net, "via", gw, "dev", "eth0"])
        run(["ip", "-n", node, "addr", "add", f"{gw}/32", "dev", node_if])
        run(["ip", "-n", node, "link", "set", node_if, "up"])
        run(["ip", "-n", node, "route", "add", f"{ip}/32", "dev", node_if])

    def ruleset(self) -> str:
        """The node's nft ruleset: kube-proxy's Service DNAT, hairpin masquerade, faults."""
        scn = self.scn
        raw: list[str] = []
        dnat: list[str] = []
        if scn.service == "blackhole":
            raw.append(f"ip daddr {VIP} drop")
        if scn.forward_loop:
            # the loop's bound: the DNS pod may send the VIP ~300 queries, then no more
            raw.append(
                f"ip saddr 10.244.0.0/24 ip daddr {VIP} udp dport 53 quota over 20 kbytes drop"
            )
        if scn.service == "reject":  # kube-proxy's rule for a Service without endpoints
            raw.append(f"ip daddr {VIP} udp dport 53 reject with icmp type port-unreachable")
            raw.append(f"ip daddr {VIP} tcp dport 53 reject with tcp reset")
        if scn.service == "dnat":
            eps = ENDPOINTS[: scn.endpoints]
            to = (
                eps[0]
                if len(eps) == 1
                else "numgen random mod {} map {{ {} }}".format(
                    len(eps), ", ".join(f"{i} : {a}" for i, a in enumerate(eps))
                )
            )
            dnat.append(f"ip daddr {VIP} meta l4proto {{ tcp, udp }} th dport 53 dnat to {to}")
        return "\n".join(
            [
                "table ip kubelab {",
                "  chain raw_pre {",
                "    type filter hook prerouting priority raw; policy accept;",
                *(f"    {r}" for r in raw),
                "  }",
                "  chain services {",
                "    type nat hook prerouting priority dstnat; policy accept;",
                *(f"    {r}" for r in dnat),
                "  }",
                "  chain hairpin {",
                "    type nat hook postrouting priority srcnat; policy accept;",
                "    ip saddr 10.244.0.0/24 ip daddr 10.244.0.0/24 ct status dnat masquerade",
                "  }",
                "}",
                "",
            ]
        )

    def queue_rule(self, queue: int, sources: Sequence[str]) -> None:
        """Send the node's forwarded DNS queries (from these pods, or all) to an NFQUEUE.

        After DNAT (mangle FORWARD), where the race's loser disappears. No
        --queue-bypass: if the program is gone, the queries are dropped, not let by."""
        chosen: list[str | None] = [*sources] or [None]
        for src in chosen:
            argv = ["iptables", "-t", "mangle", "-A", "FORWARD", "-p", "udp", "--dport", "53"]
            if src:
                argv += ["-s", src]
            run(in_ns(self.node, [*argv, "-j", "NFQUEUE", "--queue-num", str(queue)]))


def sysctl(ns: str, key: str, value: str) -> None:
    # /proc/sys/net shows the namespace of the process that opens it; no procps needed
    run(in_ns(ns, ["sh", "-c", f"echo {value} > /proc/sys/{key}"]))
