#!/usr/bin/env python3
"""Time the whole command a user types, ``dnspcap analyze FILE --format F -o OUT``.

    python benchmarks/bench_command.py [--profiles default,many-clients,busy-pod,hostile]
                                       [--formats text,markdown,html,json] [--runs 3]
                                       [--also-10m] [--skip-tshark] [--json FILE]

For each capture (make_capture.py profiles: ``default`` and ``many-clients`` at 2M
packets, and 10M with ``--also-10m``; ``busy-pod``, one client, at 2M; ``hostile`` at
300k packets beside ``default`` at 300k) and each report format, the command runs
``--runs`` times as a fresh process; the figures are the medians: wall time, CPU time
and peak RSS of the largest process (from ``wait4``), the peak memory of the whole
process tree (the parts' and the figures' children too: summed PSS, sampled), packets
per second. Beside them tshark's
two-pass export of the same fields (``TSHARK_FIELDS``), once per capture. Then, in
``--runs`` fresh processes, the stages of the same work one after another (read, pair,
lookups, detect, the report's document, its figures, each writer), to show where the
time goes. The machine (CPUs, model, memory) and the load average before and after are
recorded with the figures.

Prints tables; writes every figure as JSON (``--json``, by default
benchmarks/data/bench_command.json). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_read import (  # noqa: E402  (this folder on the path first)
    DATA,
    _peak_rss_mb,
    _reset_peak,
    _rss_mb,
    _timed,
    ensure_capture,
)

FORMATS = ("text", "markdown", "html", "json")
SUFFIX = {"text": "txt", "markdown": "md", "html": "html", "json": "json"}
# (profile, packets): the captures timed, and those --also-10m adds
CAPTURES = (
    ("default", 2_000_000),
    ("many-clients", 2_000_000),
    ("busy-pod", 2_000_000),  # one client: the pod's own capture
    ("hostile", 300_000),
    ("default", 300_000),  # the hostile capture's ordinary counterpart
)
CAPTURES_10M = (("default", 10_000_000), ("many-clients", 10_000_000))

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
# What dnspcap's report is made from, per message: two passes (-2) so that dns.time
# (query to response) is filled in, as dnspcap pairs them.
TSHARK_FIELDS = (
    "frame.number", "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst",
    "udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "dns.id",
    "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
    "dns.flags.truncated", "dns.count.answers", "dns.a", "dns.aaaa", "dns.time",
)  # fmt: skip


MIB = 1 << 20  # peak RSS is in MiB, the file in MB (10^6 bytes)


# --------------------------------------------------------------------------- processes


def run_measured(
    cmd: Sequence[str], stdout: Any = subprocess.DEVNULL, *, tree: bool = True
) -> dict[str, Any]:
    """Run a command; its wall time, CPU time (its own and its children's), peak RSS
    (from wait4: the largest single process of the command's) and, with ``tree``, the
    peak memory of its whole process tree (the command analyses parts in forked children
    and draws the figures in another: their proportional set sizes summed, sampled every
    ``TREE_EVERY_S``; None where /proc does not list children, or without ``tree``).

    Sampling the tree is not free: the kernel walks every page table of a process to
    sum its PSS, 12 ms a sample for a 2M capture's processes, 1.4 CPU-seconds of a 2.8 s
    command on two processors. So time_command times the command without it and
    samples the tree in a run of its own."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stderr is not None
    sampler = TreeMemory(proc.pid) if tree else None
    err = proc.stderr.read()  # the command's own messages; small
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if sampler is not None:
        sampler.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "returncode": proc.returncode,
        "seconds": wall,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: KiB
        "peak_tree_mb": sampler.peak_kib / 1024 if sampler and sampler.peak_kib else None,
        "stderr": err.decode(errors="replace").strip().splitlines()[-5:],
    }


TREE_EVERY_S = 0.05


class TreeMemory:
    """The peak of a process tree's summed PSS (``smaps_rollup``), sampled by a thread:
    shared pages (a forked child's copy-on-write view of its parent's tables) are
    counted once, split among the processes that map them."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kib, self.done = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak_kib = max(self.peak_kib, sum(_pss_kib(p) for p in _tree(self.pid)))
            self.done.wait(TREE_EVERY_S)

    def stop(self) -> None:
        self.done.set()
        self.thread.join()


def _tree(pid: int) -> list[int]:
    """The process and its descendants, from /proc's children lists."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _pss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def dnspcap_command() -> list[str]:
    """The console script installed beside this Python, else the module."""
    script = Path(sys.executable).with_name("dnspcap")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dnspcap.cli"]


def time_command(path: Path, fmt: str, runs: int, out_dir: Path) -> dict[str, Any]:
    """``dnspcap analyze`` on one capture in one format, `runs` times: the medians; then
    once more with its process tree's memory sampled (see run_measured)."""
    out = out_dir / f"report.{SUFFIX[fmt]}"
    cmd = [*dnspcap_command(), "analyze", str(path), "--format", fmt, "-o", str(out)]
    each = []
    for _ in range(runs):
        res = run_measured(cmd, tree=False)
        if res["returncode"] not in (0, 1):  # 1: something was found, as designed
            return {"format": fmt, "failed": res["stderr"], "command": " ".join(cmd)}
        res["output_bytes"] = out.stat().st_size
        each.append(res)
    sampled = run_measured(cmd)
    return {
        "format": fmt,
        "command": " ".join(cmd),
        "runs": each,
        **{k: statistics.median(r[k] for r in each) for k in ("seconds", "cpu_seconds")},
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in each),
        "peak_tree_mb": sampled["peak_tree_mb"],
        "tree_run": sampled,
        "output_bytes": each[-1]["output_bytes"],
    }


def time_tshark(path: Path) -> dict[str, Any]:
    cmd = [TSHARK, "-2", "-r", str(path), "-T", "fields"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    res = run_measured(cmd)
    res["command"] = " ".join(cmd) + " > /dev/null"
    res["stderr"] = [line for line in res["stderr"] if "dangerous" not in line]
    return res


# --------------------------------------------------------------------------- stages


def child_stages(path: str, formats: Sequence[str]) -> dict[str, Any]:
    """The command's work stage by stage in this fresh process: each one's time, CPU time
    and peak RSS (VmHWM reset before it)."""
    t0 = time.perf_counter()
    import dnspcap
    from dnspcap.report import Findings, Report
    from dnspcap.report.formats import as_json, build, figure_pngs, html, markdown, text

    out: dict[str, Any] = {"import_seconds": time.perf_counter() - t0, "stages": []}
    held: dict[str, Any] = {}

    def stage(name: str, fn: Any) -> Any:
        before = _rss_mb()
        reset = _reset_peak()
        result, wall, cpu = _timed(fn)
        out["stages"].append(
            {
                "stage": name, "seconds": wall, "cpu_seconds": cpu,
                "peak_rss_mb": _peak_rss_mb() if reset else None,
                "rss_before_mb": before, "rss_after_mb": _rss_mb(),
            }
        )  # fmt: skip
        held[name] = result
        return result

    m = stage("read", lambda: dnspcap.read_messages(path))
    tx = stage("pair", lambda: dnspcap.pair(m))
    lk = stage("lookups", lambda: dnspcap.lookups(tx))
    found = stage("detect", lambda: dnspcap.detect(tx, lk))
    report = Report(m, tx, lk, Findings(found))
    doc = stage("document", lambda: build(report))
    pngs: dict[str, bytes] = {}
    if {"markdown", "html"} & set(formats):
        pngs = stage("figures", lambda: figure_pngs(doc))
    names = {key: f"report-{key}.png" for key in pngs}
    writers = {
        "text": lambda: text.write(doc),
        "markdown": lambda: markdown.write(doc, names),
        "html": lambda: html.write(doc, pngs),
        "json": lambda: as_json(report, doc),
    }
    for fmt in formats:
        stage(fmt, writers[fmt])
    out["findings"] = len(found)
    out["dnspcap"] = dnspcap.__file__
    out["peak_rss_mb"] = _peak_rss_mb()
    return out


def stages_in_children(path: Path, formats: Sequence[str], runs: int) -> dict[str, Any]:
    """child_stages in `runs` fresh processes; each figure the median."""
    results = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(path), ",".join(formats)],
            capture_output=True, text=True, cwd=ROOT, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            return {"failed": proc.stderr.strip().splitlines()[-5:]}
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    merged = []
    for k, first in enumerate(results[0]["stages"]):
        entry = dict(first)
        for key, value in first.items():
            if isinstance(value, float):
                entry[key] = statistics.median(r["stages"][k][key] for r in results)
        merged.append(entry)
    return {
        "stages": merged,
        "findings": results[0]["findings"],
        "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results),
        "runs": results,
    }


# --------------------------------------------------------------------------- report


def warm(path: Path) -> None:
    """Read the capture once, so that every command timed reads it from the page cache,
    as tshark does after it: on the development VM (which runs a kernel reclaimer,
    kdamond), an hour after its last run 15 MB of a 1.4 GB capture were still cached
    (fincore), and the first command timed would have read the rest from disk."""
    with open(path, "rb") as f:
        while f.read(8 << 20):
            pass


def compile_bytecode() -> dict[str, Any]:
    """Compile the imported dnspcap's modules to bytecode (``__pycache__``) before any
    run, as an installed package already is: pip compiles a wheel's modules when it
    installs them, and Python caches what it imports. Where ``PYTHONDONTWRITEBYTECODE``
    is set (this project's development VMs set it), an editable install is otherwise
    compiled from source at every start: 0.1 s of each run that no user pays. What the
    variable forbids is writing on import; the cached bytecode is still read."""
    code = (
        "import compileall, dnspcap, os; "
        "print(compileall.compile_dir(os.path.dirname(dnspcap.__file__), quiet=1))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=HERE, check=False)  # fmt: skip
    return {"bytecode_compiled": done.stdout.strip() in ("1", "True"),
            "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE")}  # fmt: skip


def machine() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    # the dnspcap the command imports (PYTHONPATH may point at another checkout), and its commit
    where = subprocess.run(
        [sys.executable, "-c", "import dnspcap; print(dnspcap.__file__)"],
        capture_output=True, text=True, cwd=HERE, check=False,
    ).stdout.strip()  # fmt: skip
    tree = Path(where).parent.parent if where else ROOT
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=tree
    ).stdout.strip()
    import numpy
    import pandas

    return {
        "cpus": os.cpu_count(), "model": model, "memory_gb": round(mem_kib / 2**20, 1),
        "python": platform.python_version(), "pandas": pandas.__version__,
        "numpy": numpy.__version__, "dnspcap": where, "dnspcap_commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }  # fmt: skip


def print_commands(capture: str, packets: int, file_mb: float, rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'command':<24} {'seconds':>8} {'cpu s':>7} {'packets/s':>11} {'peak RSS MB':>11} "
        f"{'x file':>6} {'tree MB':>8} {'x file':>6} {'output':>10}"
    )
    print(f"\n{capture}: {packets:,} packets, {file_mb:,.0f} MB")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "failed" in r:
            print(f"{r['label']:<24} failed: {' / '.join(r['failed'])}")
            continue
        size = r.get("output_bytes")
        print(
            f"{r['label']:<24} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
            f"{packets / r['seconds']:>11,.0f} {r['peak_rss_mb']:>11,.0f} "
            f"{r['peak_rss_mb'] * MIB / 1e6 / file_mb:>6.2f} "  # bytes over bytes
            + _tree_cells(r.get("peak_tree_mb"), file_mb)
            + (f"{size / 1e6:>8.2f} MB" if size is not None else f"{'-':>10}")
        )


def _tree_cells(tree_mb: float | None, file_mb: float) -> str:
    if tree_mb is None:
        return f"{'-':>8} {'-':>6} "
    return f"{tree_mb:>8,.0f} {tree_mb * MIB / 1e6 / file_mb:>6.2f} "


def print_stages(st: dict[str, Any], packets: int) -> None:
    if "failed" in st:
        print("stages failed:", *st["failed"], sep="\n  ")
        return
    total = sum(s["seconds"] for s in st["stages"])
    print(f"  stages in one process (median of {len(st['runs'])}; {st['findings']:,} findings):")
    print(f"  {'stage':<10} {'seconds':>8} {'cpu s':>7} {'share':>6} {'packets/s':>11} "
          f"{'peak RSS MB':>11}")  # fmt: skip
    for s in st["stages"]:
        peak = s["peak_rss_mb"] or float("nan")
        print(
            f"  {s['stage']:<10} {s['seconds']:>8.2f} {s['cpu_seconds']:>7.2f} "
            f"{s['seconds'] / total:>6.0%} {packets / max(s['seconds'], 1e-9):>11,.0f} "
            f"{peak:>11,.0f}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--profiles", default="default,many-clients,busy-pod,hostile",
                        help="make_capture profiles to time (default: all four)")  # fmt: skip
    parser.add_argument("--formats", default=",".join(FORMATS), help="report formats")
    parser.add_argument("--runs", type=int, default=3, help="runs of each measurement (3)")
    parser.add_argument("--also-10m", action="store_true", help="also the 10M-packet captures")
    parser.add_argument("--skip-tshark", action="store_true", help="do not run tshark")
    parser.add_argument("--packets", type=int, help="one size for every capture (a quick run)")
    parser.add_argument("--data", type=Path, default=DATA, help="where captures are kept")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child_stages(args.child[0], args.child[1].split(","))))
        return 0

    profiles = [p.strip() for p in args.profiles.split(",") if p.strip()]
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    if bad := [f for f in formats if f not in FORMATS]:
        parser.error(f"unknown format(s) {', '.join(bad)}")
    plan = [c for c in CAPTURES + (CAPTURES_10M if args.also_10m else ()) if c[0] in profiles]
    if "hostile" in profiles and "default" not in profiles:
        plan.append(("default", 300_000))  # the ordinary counterpart of the hostile capture
    if args.packets:
        plan = list(dict.fromkeys((p, args.packets) for p, _ in plan))
    report: dict[str, Any] = {"machine": machine(), "load_before": os.getloadavg(),
                              "start_up": compile_bytecode()}  # fmt: skip
    info = report["machine"]
    print(
        f"{info['cpus']} CPUs ({info['model']}), {info['memory_gb']} GB; dnspcap "
        f"{info['dnspcap_commit']}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    out = args.json or args.data / "bench_command.json"
    results: list[dict[str, Any]] = []
    for profile, packets in plan:
        path, truth = ensure_capture(packets, profile=profile, data=args.data)
        file_mb = truth["file_bytes"] / 1e6
        warm(path)
        rows = []
        with tempfile.TemporaryDirectory() as tmp:
            for fmt in formats:
                res = time_command(path, fmt, args.runs, Path(tmp))
                rows.append({"label": f"dnspcap --format {fmt}", **res})
        if not args.skip_tshark and packets < 10_000_000:  # tshark takes ~1 min per 1M
            rows.append({"label": "tshark -2 -T fields", **time_tshark(path)})
        stages = stages_in_children(path, formats, args.runs)
        print_commands(path.name, packets, file_mb, rows)
        print_stages(stages, packets)
        results.append(
            {
                "capture": path.name, "profile": profile, "packets": packets,
                "file_mb": file_mb, "truth": truth, "commands": rows, "stages": stages,
            }
        )  # fmt: skip
        report["captures"] = results
        _save(report, out)  # what is measured so far, in case a later capture fails
    report["per_packet_10m"] = _scaling(results)
    for s in report["per_packet_10m"]:
        print(
            f"\n{s['profile']} --format {s['format']}: per-packet cost at 10M / at 2M = "
            f"{s['ratio']:.2f} (CPU {s['cpu_ratio']:.2f}; 1.00 = linear)",
            end="",
        )
    report["load_after"] = os.getloadavg()
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in report['load_after'])}")
    _save(report, out)
    print(f"figures written to {out}")
    failed = any("failed" in r for c in results for r in c["commands"])
    return 1 if failed else 0


def _save(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")


def _scaling(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-packet cost of each command at 10M packets against 2M, per profile and format."""
    by = {(c["profile"], c["packets"]): c for c in results}
    out = []
    for (profile, packets), big in by.items():
        small = by.get((profile, 2_000_000))
        if packets != 10_000_000 or small is None:
            continue
        same = {c["label"]: c for c in small["commands"]}
        for b in big["commands"]:
            s = same.get(b["label"], {})
            if "seconds" not in b or "seconds" not in s:
                continue
            out.append(
                {
                    "profile": profile, "format": b.get("format", b["label"]),
                    "ratio": (b["seconds"] / 10_000_000) / (s["seconds"] / 2_000_000),
                    "cpu_ratio": (b["cpu_seconds"] / 10_000_000) / (s["cpu_seconds"] / 2_000_000),
                }
            )  # fmt: skip
    return out


if __name__ == "__main__":
    sys.exit(main())
