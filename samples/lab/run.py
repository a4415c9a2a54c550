"""The dnspcap lab: real glibc and musl resolvers, a real DNS server, kube-proxy's DNAT
and injected faults in network namespaces; one capture per scenario, then verified.

Run as root:  python samples/lab/run.py [--prefix P] [--out DIR] [--only NAME...]
              [--keep-going] [--retries N] [--max-seconds S] [--no-verify]
              python samples/lab/run.py --cleanup [--prefix P]
              python samples/lab/run.py --list

It installs the Debian packages it lacks (scripts/install-system-deps.sh), builds its
two C programs and its Go client into a temporary directory, sets the scenarios
(scenarios.py) up, each in its own namespaces named ``<prefix>-<scenario>-<role>``,
plays them at once, writes ``DIR/<scenario>[-any|-node|-dns].pcap``, checks each
capture against its pattern (expectations.py) with ``dnspcap.analyze`` (a scenario
whose capture fails is played again, alone, ``--retries`` times), and takes everything
down: namespaces, processes, rules, /etc/netns files, the temporary directory.
``DIR/lab.json`` records what each client got and what each check said; ``DIR/logs/``
keeps the DNS servers', fault programs' and tcpdumps' output. Nothing is sent outside
the lab's namespaces: the node namespace has no uplink. Every wait is bounded; the
whole run by ``--max-seconds``. The vantage runs (scenarios.VANTAGE) are played only
when named with ``--only``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from expectations import pattern_for, verify  # noqa: E402
from scenarios import BY_NAME, ENDPOINTS, SCENARIOS, VANTAGE, Client, Scenario, soak  # noqa: E402
from topology import Lab, LabError, Network, cleanup, in_ns, run  # noqa: E402

CAPTURE_FILTER = "udp port 53 or tcp port 53 or icmp"
# With --immediate-mode on "any", libpcap's ring has fixed slots of snaplen bytes: the
# default 262144 leaves 8 slots in the default 2 MB and bursts are dropped ("packets
# dropped by kernel"). Every DNS message here is under 1 kB (no EDNS, MTU 1500).
SNAPLEN, BUFFER_KIB = "2048", "4096"
# -U and --immediate-mode: every packet is in the file when tcpdump is stopped (by its
# PID, with SIGINT); -Z root: no "tcpdump" user needed; -n: no name lookups (no DNS)
TCPDUMP_OPTIONS = ["-U", "--immediate-mode", "-n", "-s", SNAPLEN, "-B", BUFFER_KIB, "-Z", "root",
                   CAPTURE_FILTER]  # fmt: skip
TOOLS = ("ip", "nft", "iptables", "tcpdump", "dnsmasq", "musl-gcc", "gcc", "getent", "go")
NFQ_HEADER = Path("/usr/include/libnetfilter_queue/libnetfilter_queue.h")
CLIENT_TIMEOUT = 40.0  # glibc gives up after 15 s at most with the options used here
READY_TIMEOUT = 10.0
PY_GAI = (
    "import socket, sys\n"
    "try:\n"
    "    r = socket.getaddrinfo(sys.argv[1], None)\n"
    "except socket.gaierror as e:\n"
    "    print(sys.argv[1], 'error', e); sys.exit(1)\n"
    "print(sys.argv[1], 'ok', ' '.join(sorted({a[4][0] for a in r})))\n"
)


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- preparation ----------------------------------------------------------------
def missing_tools() -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not NFQ_HEADER.exists():
        missing.append(str(NFQ_HEADER))
    return missing


def ensure_packages(install: bool) -> None:
    missing = missing_tools()
    if missing and install:
        log(f"installing what is missing ({', '.join(missing)}): scripts/install-system-deps.sh")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-system-deps.sh")],
            stdin=subprocess.DEVNULL,
            check=True,
            timeout=900,
            env=env,
        )
        missing = missing_tools()
    if missing:
        raise LabError(f"missing: {', '.join(missing)} (Debian: scripts/install-system-deps.sh)")


def build_programs(work: Path) -> dict[str, str]:
    """dnsfault (glibc, libnetfilter_queue), the musl getaddrinfo client and the Go
    client (pure-Go resolver, static)."""
    bins = {
        "dnsfault": str(work / "dnsfault"),
        "gai-musl": str(work / "gai-musl"),
        "gogai": str(work / "gogai"),
        "realtime": " ".join(realtime_prefix()),
    }
    nfq = [str(HERE / "dnsfault.c"), "-lnetfilter_queue"]
    run(["gcc", "-O2", "-Wall", "-o", bins["dnsfault"], *nfq], timeout=120)
    run(["musl-gcc", "-static", "-O2", "-o", bins["gai-musl"], str(HERE / "gai.c")], timeout=120)
    # standard library only, offline: caches in the work directory (removed with it), no
    # module proxy, no user configuration; no -trimpath, with which go rebuilds the
    # standard library instead of using Debian's (25 s instead of 4 s, measured)
    go_env = {"CGO_ENABLED": "0", "GOCACHE": str(work / "gocache"), "GOPATH": str(work / "gopath"),
              "GOENV": "off", "GOFLAGS": "", "GOPROXY": "off", "GO111MODULE": "on"}  # fmt: skip
    go_build = ["go", "build", "-o", bins["gogai"], str(HERE / "gogai.go")]
    run(["env", *(f"{k}={v}" for k, v in go_env.items()), *go_build], timeout=300)
    return bins


def wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    out = path.read_text(errors="replace")[-500:] if path.exists() else ""
    raise LabError(f"{what} did not become ready: {out.strip()}")


# --- one scenario ----------------------------------------------------------------
def client_argv(c: Client, name: str, bins: dict[str, str]) -> list[str]:
    if c.kind == "getent":
        return ["getent", "ahosts", name]
    if c.kind == "python":
        return [sys.executable, "-c", PY_GAI, name]
    if c.kind == "python4":  # AF_INET: A only
        return [sys.executable, "-c", PY_GAI.replace("None)", "None, socket.AF_INET)"), name]
    if c.kind == "musl":
        return [bins["gai-musl"], name]
    if c.kind == "go":
        return [bins["gogai"], name]
    if c.kind == "go4":  # ip4: A only
        return [bins["gogai"], "-net", "ip4", name]
    raise LabError(f"unknown client kind {c.kind}")


def realtime_prefix() -> list[str]:
    """``chrt -f 10`` if this machine lets us: a resolver at a real-time priority is
    not preempted between its A and AAAA, so the pair leaves ~60 µs apart as on an idle
    node even while the other scenarios start processes (measured: up to 10 ms apart
    without it, on 2 busy cores)."""
    try:
        ok = run(["chrt", "-f", "10", "true"], check=False).returncode == 0
    except OSError:
        ok = False
    return ["chrt", "-f", "10"] if ok else []


def run_client(
    lab: Lab, ns: str, c: Client, bins: dict[str, str], t0: float, records: list[dict[str, Any]]
) -> None:
    if lab.stopping.wait(max(0.0, c.start - (time.monotonic() - t0))):
        return
    for i, name in enumerate(c.names):
        if (i and lab.stopping.wait(c.pause)) or lab.stopping.is_set():
            return
        if c.until and time.monotonic() - t0 > c.until:
            return
        start = time.monotonic()
        try:
            argv = [*bins.get("realtime", "").split(), *client_argv(c, name, bins)]
            p = run(in_ns(ns, argv), timeout=CLIENT_TIMEOUT, check=False)
            rc, out = p.returncode, (p.stdout.strip().splitlines() or [""])[0]
        except subprocess.TimeoutExpired:
            rc, out = -1, "timed out"
        records.append(
            {
                "pod": c.pod,
                "kind": c.kind,
                "name": name,
                "at_s": round(start - t0, 3),
                "took_s": round(time.monotonic() - start, 3),
                "rc": rc,
                "out": out[:200],
            }
        )


class Run:
    """One scenario: set up its namespaces and processes, play its clients, take it down."""

    def __init__(self, lab: Lab, scn: Scenario, bins: dict[str, str], out: Path) -> None:
        self.lab, self.scn, self.bins, self.out = lab, scn, bins, out
        self.logs = out / "logs" / scn.name
        self.net = Network(lab, scn)
        self.captures: list[tuple[Path, subprocess.Popen[bytes]]] = []
        self.others: list[subprocess.Popen[bytes]] = []
        self.records: list[dict[str, Any]] = []
        self.error = ""
        self.played = False

    def setup(self) -> None:
        """Namespaces, DNS servers, fault programs, then tcpdumps, each waited for."""
        lab, scn, net, logs = self.lab, self.scn, self.net, self.logs
        shutil.rmtree(logs, ignore_errors=True)
        logs.mkdir(parents=True)
        work = lab.work / scn.name
        work.mkdir(exist_ok=True)
        net.build()
        if scn.endpoints_up:
            for j, ns in enumerate(net.dns):
                conf = work / f"dnsmasq{j}.conf"
                conf.write_text(dnsmasq_conf(scn, j, work, logs))
                p = lab.spawn(
                    in_ns(ns, ["dnsmasq", "-k", "-C", str(conf)]), logs / f"dnsmasq{j}.out"
                )
                self.others.append(p)
                wait_for(logs / f"dnsmasq{j}.log", "started", p, f"dnsmasq in {ns}")
        for q, fault in enumerate(scn.faults, start=1):
            pods = {p.name: p.ip for p in scn.pods}
            net.queue_rule(q, [pods[name] for name in fault.pods])
            life = str(300 + 2 * int(scn.soak))  # it exits then: a soak outlives 300 s
            argv = ["env", "DNSFAULT_VERBOSE=1", self.bins["dnsfault"], str(q), life, *fault.rules]
            p = lab.spawn(in_ns(net.node, argv), logs / f"dnsfault{q}.log")
            self.others.append(p)
            wait_for(logs / f"dnsfault{q}.log", "ready", p, f"dnsfault {q}")
        for c in scn.captures:
            path = self.out / f"{scn.name}{c.suffix}.pcap"
            path.unlink(missing_ok=True)
            argv = ["tcpdump", "-i", c.iface, "-w", str(path), *TCPDUMP_OPTIONS]
            tlog = logs / f"tcpdump{c.suffix or '-main'}.log"
            p = lab.spawn(in_ns(net.where(c.where), argv), tlog)
            self.captures.append((path, p))
            wait_for(tlog, "listening on", p, f"tcpdump {c.where} {c.iface}")

    def play(self, t0: float) -> None:
        """The clients, from t0 on (a time.monotonic() value), then the tail; then stop
        the captures (SIGINT: tcpdump flushes and closes its file) and the servers."""
        try:
            if self.lab.stopping.wait(max(0.0, t0 - time.monotonic())):
                return
            threads = [
                threading.Thread(
                    target=run_client,
                    args=(self.lab, self.net.pods[c.pod], c, self.bins, t0, self.records),
                    daemon=True,
                )
                for c in self.scn.clients
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=CLIENT_TIMEOUT * 4 + self.scn.soak * 2)
            self.played = not self.lab.stopping.wait(self.scn.tail)
        except Exception as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.stop()

    def stop(self) -> None:
        for _, p in self.captures:
            self.lab.stop(p, signal.SIGINT)
        for p in self.others:
            self.lab.stop(p)

    def down(self) -> dict[str, Any]:
        """Take the namespaces down; what happened, for lab.json."""
        self.stop()
        self.lab.drop_namespaces(self.net.namespaces)
        faults = [
            line
            for f in sorted(self.logs.glob("dnsfault*.log"))
            for line in f.read_text(errors="replace").splitlines()
            if line.startswith("done")
        ]
        result = {
            "scenario": self.scn.name,
            "shows": self.scn.shows,
            "ok": self.played and not self.error,
            "error": self.error,
            "captures": [path.name for path, _ in self.captures],
            "clients": sorted(self.records, key=lambda r: r["at_s"]),
            "faults": faults,
        }
        if self.logs.is_dir():
            (self.logs / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        return result


STAGGER_S = 0.25  # between two scenarios' starts: their first lookups do not coincide


def run_batch(
    lab: Lab,
    scenarios: list[Scenario],
    bins: dict[str, str],
    out: Path,
    deadline: float,
    keep_going: bool,
) -> list[dict[str, Any]]:
    """Set the scenarios up (four at a time), start them together, a little apart, and
    take them down once all are done: setting up and taking down namespaces costs CPU
    that would otherwise delay a resolver's second query past the race window."""
    runs = [Run(lab, s, bins, out) for s in sorted(scenarios, key=lambda s: -s.duration_hint)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {pool.submit(r.setup): r for r in runs}
            for f, r in futures.items():
                try:
                    f.result(timeout=max(1.0, deadline - time.monotonic()))
                except Exception as e:
                    r.error = f"setup: {type(e).__name__}: {e}"
                    log(f"{r.scn.name}: {r.error}")
        ready = [r for r in runs if not r.error]
        if len(ready) < len(runs) and not keep_going:
            raise LabError("a scenario could not be set up (--keep-going plays the others)")
        t0 = time.monotonic() + 0.5
        log(f"{len(ready)} scenarios set up; playing them")
        threads = [
            threading.Thread(
                target=r.play, args=(t0 + i * STAGGER_S,), name=r.scn.name, daemon=True
            )
            for i, r in enumerate(ready)
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                if time.monotonic() > deadline:
                    raise LabError("the run took longer than --max-seconds")
                t.join(timeout=0.5)
    finally:
        results = [r.down() for r in runs]
    for res in results:
        state = "done" if res["ok"] else f"FAILED {res['error']}"
        log(f"{res['scenario']}: {state} {' '.join(res['faults'])}")
    return results


def dnsmasq_conf(scn: Scenario, j: int, work: Path, logs: Path) -> str:
    big = work / "big.hosts"
    if not big.exists():
        big.write_text(
            "".join(f"203.0.113.{i} big.example.com large.example.com\n" for i in range(1, 41))
        )
    extra = "server=/loop.example.net/10.96.0.10\n" if scn.forward_loop else ""
    return string.Template((HERE / "dnsmasq.conf").read_text()).substitute(
        listen=ENDPOINTS[j], log=logs / f"dnsmasq{j}.log", big_hosts=big, extra=extra
    )


# --- the whole run ----------------------------------------------------------------
class Interrupted(Exception):
    pass


def on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", default="dnslab", help="name prefix of everything created")
    ap.add_argument("--out", type=Path, help="capture directory (default /tmp/<prefix>-captures)")
    ap.add_argument("--only", nargs="+", metavar="SCENARIO", help="run only these")
    ap.add_argument(
        "--keep-going", action="store_true", help="when a scenario cannot be set up, run the others"
    )
    ap.add_argument(
        "--retries",
        type=int,
        default=1,
        help="run a scenario whose capture fails its check again, alone (default 1)",
    )
    ap.add_argument("--max-seconds", type=float, default=300, help="bound on the whole run")
    ap.add_argument("--no-install", action="store_true", help="do not install packages")
    ap.add_argument("--no-verify", action="store_true", help="capture only")
    ap.add_argument("--cleanup", action="store_true", help="remove what a run left, and exit")
    ap.add_argument("--list", action="store_true", help="list the scenarios, and exit")
    ap.add_argument(
        "--soak", type=float, metavar="SECONDS",
        help="play only the soak scenario: lookups for this long, with the race fault",
    )  # fmt: skip
    ap.add_argument(
        "--race-every", type=int, default=50, metavar="N",
        help="--soak: drop the AAAA of every Nth parallel pair (default 50)",
    )  # fmt: skip
    args = ap.parse_args(argv)

    if args.list:
        for s in SCENARIOS:
            print(f"{s.name:24} {s.shows}")
        for s in VANTAGE:
            print(f"{s.name:24} (only with --only) {s.shows}")
        return 0
    if os.geteuid() != 0:
        print("the lab needs root (network namespaces, nft, tcpdump)", file=sys.stderr)
        return 2
    if args.cleanup:
        for what in cleanup(args.prefix):
            log(f"removed {what}")
        return 0
    unknown = [n for n in args.only or [] if n not in BY_NAME]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    chosen = [BY_NAME[n] for n in args.only] if args.only else list(SCENARIOS)
    if args.soak:
        chosen = [soak(args.soak, args.race_every)]
        args.no_verify = True  # its capture is for dnspcap watch, not a pattern
    out: Path = (args.out or Path(f"/tmp/{args.prefix}-captures")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cleanup(args.prefix)  # what a run killed with SIGKILL may have left

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    started = time.monotonic()
    deadline = started + args.max_seconds
    work = Path(tempfile.mkdtemp(prefix=f"{args.prefix}-lab-", dir="/tmp"))
    lab = Lab(args.prefix, work)
    results: dict[str, dict[str, Any]] = {}
    checks: dict[str, list[str]] = {}
    failed = False
    try:
        ensure_packages(not args.no_install)
        bins = build_programs(work)
        todo = chosen
        for attempt in range(1 + max(0, args.retries)):
            if attempt:
                names = ", ".join(s.name for s in todo)
                log(f"again, alone, as their captures failed their checks: {names}")
            log(f"{len(todo)} scenario(s) into {out} (prefix {args.prefix})")
            batches = [todo] if not attempt else [[s] for s in todo]
            for batch in batches:
                for r in run_batch(lab, batch, bins, out, deadline, args.keep_going):
                    results[r["scenario"]] = r
            broken = [s for s in todo if not results[s.name]["ok"]]
            if broken and not args.keep_going:
                raise LabError(f"could not run: {', '.join(s.name for s in broken)}")
            if args.no_verify:
                break
            ran = [s for s in todo if results[s.name]["ok"]]
            checks.update(verify_all(out, ran, results))
            todo = [s for s in ran if any(checks[stem] for stem in stems(s))]
            if not todo:
                break
        failed = any(not r["ok"] for r in results.values()) or any(checks.values())
    except Exception as e:  # Interrupted, LabError, a failed command: take it all down
        log(f"stopping: {type(e).__name__}: {e}")
        failed = True
    finally:
        lab.teardown()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
    seconds = round(time.monotonic() - started, 1)
    log(f"{'FAILED' if failed else 'passed'} in {seconds} s; everything taken down")
    summary = {
        "prefix": args.prefix,
        "seconds": seconds,
        "checks": checks,
        "scenarios": [results[s.name] for s in chosen if s.name in results],
    }
    (out / "lab.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return 1 if failed else 0


def stems(scn: Scenario) -> list[str]:
    return [f"{scn.name}{c.suffix}" for c in scn.captures]


def verify_all(
    out: Path, scenarios: list[Scenario], results: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """Analyze every capture with dnspcap and check it against its expected pattern."""
    checks: dict[str, list[str]] = {}
    for scn in scenarios:
        for stem in stems(scn):
            path = out / f"{stem}.pcap"
            clients = results.get(scn.name, {}).get("clients")
            problems, found = verify(path, pattern_for(stem), clients)
            checks[stem] = problems
            log(f"{'ok  ' if not problems else 'FAIL'} {stem}: {found}")
            for p in problems:
                log(f"     - {p}")
    return checks


if __name__ == "__main__":
    sys.exit(main())
