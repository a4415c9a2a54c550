#!/usr/bin/env python3
"""Time ``dnspcap.read_messages`` against tshark on a large synthetic DNS capture.

    python benchmarks/bench_read.py [--packets 2000000] [--also-10m] [--skip-tshark]
                                    [--stage-runs 3]

The capture is written by ``make_capture.py`` into ``benchmarks/data/`` (git-ignored)
and reused while the generator, the packet count and the seed are unchanged. Each
measurement runs in a fresh child process, so the peak RSS reported is that
measurement's own:

* ``dnspcap``: ``read_messages(path)`` twice in one child. The first call pays for
  the first touch of the file and of the code; the second is the headline. The message count
  is checked against the generator's ground truth.
* ``tshark``: ``tshark -r FILE -T fields -e ... -Y dns > /dev/null`` run by a small
  wrapper child; its peak RSS is ``getrusage(RUSAGE_CHILDREN)`` in the wrapper.
* later pipeline stages (see ``STAGES``), when dnspcap has them, one after another in
  each of ``--stage-runs`` children, after running them all on a small capture: each
  stage's first call and best warm call, its own peak RSS (VmHWM reset before it) and
  the RSS it leaves; printed as the medians over the children, then pair + lookups
  against read_messages (time, and memory above what the messages table held).

See benchmarks/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
GENERATOR = HERE / "make_capture.py"
SEED = 1
WARMUP_PACKETS = 2_000  # a small capture read first, so that one-off costs are not timed

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
TSHARK_FIELDS = (
    "frame.number",
    "ip.src",
    "ipv6.src",
    "udp.srcport",
    "dns.id",
    "dns.flags.response",
    "dns.qry.name",
    "dns.qry.type",
    "dns.flags.rcode",
    "dns.count.answers",
)

# --------------------------------------------------------------------------- stages hook
#
# The pipeline stages to time beside decoding, in order. A stage runs only when
# ``hasattr(dnspcap, name)``; it is called with the dnspcap module and a dict holding
# ``"path"`` (the capture) and the result of every earlier stage under its name, and
# returns its own result. ``pair`` and ``lookups`` are the functions of
# dnspcap/pairing/transactions.py and dnspcap/grouping/join.py; ``detect`` runs the detectors
# (dnspcap/findings/registry.py).
# A stage that raises is reported with its error and the stages after it are skipped.

StageFn = Callable[[ModuleType, dict[str, Any]], Any]

STAGES: list[tuple[str, StageFn]] = [
    ("read_messages", lambda dp, r: dp.read_messages(r["path"])),
    ("pair", lambda dp, r: dp.pair(r["read_messages"])),  # dnspcap/pairing/transactions.py
    ("lookups", lambda dp, r: dp.lookups(r["pair"])),  # dnspcap/grouping/join.py
    ("detect", lambda dp, r: dp.detect(r["pair"], r["lookups"])),  # dnspcap/findings/registry.py
]

# The stages timed again (warm), for the comparison issue 3 asks for: the best of
# WARM_REPEATS calls, as other work on the machine only ever adds time.
WARM_STAGES = ("read_messages", "pair", "lookups")
WARM_REPEATS = 3

# The ground-truth count (make_capture.py) each stage's row count should equal.
STAGE_TRUTH = {"read_messages": "dns_messages", "pair": "transactions", "lookups": "lookups"}


def _rows(result: Any) -> int | None:
    try:
        return len(result)
    except TypeError:
        return None


# --------------------------------------------------------------------------- children


def _peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak_kib = max(peak_kib, int(line.split()[1]))
    except OSError:
        pass
    return peak_kib / 1024


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def child_read(path: str, engine: str | None) -> dict[str, Any]:
    """read_messages twice in this (fresh) process."""
    started = time.perf_counter()
    import dnspcap

    import_s = time.perf_counter() - started
    kwargs: dict[str, Any] = {"engine": engine} if engine else {}
    calls = []
    for _ in range(2):
        df, wall, cpu = _timed(lambda: dnspcap.read_messages(path, **kwargs))
        stats = df.attrs.get("dnspcap", {})
        calls.append({"seconds": wall, "cpu_seconds": cpu, "messages": len(df)})
        del df
        gc.collect()
    return {
        "import_seconds": import_s,
        "calls": calls,
        "stats": {k: v for k, v in stats.items() if isinstance(v, int | float | str)},
        "peak_rss_mb": _peak_rss_mb(),
    }


def child_tshark(path: str) -> dict[str, Any]:
    """tshark in a child of this (fresh) process; RUSAGE_CHILDREN is tshark's alone."""
    cmd = [TSHARK, "-r", path, "-T", "fields"]
    for field in TSHARK_FIELDS:
        cmd += ["-e", field]
    cmd += ["-Y", "dns"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - wall
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    errors = [
        line
        for line in proc.stderr.decode(errors="replace").splitlines()
        if line.strip() and "dangerous" not in line  # tshark's warning when run as root
    ]
    return {
        "command": " ".join(cmd) + " > /dev/null",
        "returncode": proc.returncode,
        "stderr": errors[:5],
        "seconds": wall,
        "cpu_seconds": cpu,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def _rss_mb() -> float:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> bool:
    """Start VmHWM over from the current RSS (Linux: 5 > /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child_stages(path: str, warmup: str) -> dict[str, Any]:
    """Every stage dnspcap has, in order, after running them all on a small capture: each
    one's time, and its own peak RSS (VmHWM reset before it) and the RSS it leaves."""
    import dnspcap

    # Every stage once on the small capture first, as read_messages is in the other
    # children: imports, first calls into pandas and pyarrow, not timed.
    small: dict[str, Any] = {"path": warmup}
    for name, fn in STAGES:
        if hasattr(dnspcap, name):
            try:
                small[name] = fn(dnspcap, small)
            except Exception:  # reported when the stage runs on the capture itself
                break
    del small
    gc.collect()
    results: dict[str, Any] = {"path": path}
    timings: list[dict[str, Any]] = []
    for name, fn in STAGES:
        if not hasattr(dnspcap, name):
            timings.append({"stage": name, "skipped": "not in dnspcap"})
            continue
        rss_before = _rss_mb()
        per_stage_peak = _reset_peak()
        try:
            out, wall, cpu = _timed(functools.partial(fn, dnspcap, results))
        except Exception as exc:  # a stage's call out of date, or a bug: report it
            timings.append({"stage": name, "error": f"{type(exc).__name__}: {exc}"[:200]})
            break
        results[name] = out
        timings.append(
            {
                "stage": name, "seconds": wall, "cpu_seconds": cpu, "rows": _rows(out),
                "rss_before_mb": rss_before, "rss_after_mb": _rss_mb(),
                "peak_rss_mb": _peak_rss_mb() if per_stage_peak else None,
            }
        )  # fmt: skip
        # What is done so far, in case the parent's timeout stops a slow stage.
        print(json.dumps({"stages": timings, "peak_rss_mb": _peak_rss_mb()}), flush=True)
    # Each stage again, on the same input, now that its code and memory have been used
    # once (best of WARM_REPEATS): the figure comparable with the "dnspcap" (second call)
    # row of the table.
    for entry, (name, fn) in zip(timings, STAGES, strict=False):
        if "seconds" not in entry or name not in WARM_STAGES:
            continue
        best = (float("inf"), float("inf"))
        for _ in range(WARM_REPEATS):
            gc.collect()
            out, wall, cpu = _timed(functools.partial(fn, dnspcap, results))
            del out
            best = min(best, (wall, cpu))
        entry.update(warm_seconds=best[0], warm_cpu_seconds=best[1])
    return {"stages": timings, "peak_rss_mb": _peak_rss_mb()}


def run_child(*args: str, timeout: float | None = None) -> dict[str, Any]:
    """Run this script as a fresh child and return the JSON it prints last."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:  # subprocess.run has killed the child
        partial: dict[str, Any] = {}
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        if out.strip():
            partial = json.loads(out.strip().splitlines()[-1])
        partial["failed"] = f"child {args[0]} timed out after {timeout:.0f} s"
        return partial
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return {"failed": f"child {args[0]} exited {proc.returncode}:\n{tail}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# --------------------------------------------------------------------------- captures


def _label(packets: int) -> str:
    if packets % 1_000_000 == 0:
        return f"{packets // 1_000_000}m"
    if packets % 1_000 == 0:
        return f"{packets // 1_000}k"
    return str(packets)


def _generator_digest() -> str:
    code = b"".join(p.read_bytes() for p in (GENERATOR, HERE / "hostile.py"))
    return hashlib.sha256(code).hexdigest()[:16]


def ensure_capture(
    packets: int, seed: int = SEED, profile: str = "default", data: Path = DATA
) -> tuple[Path, dict[str, Any]]:
    """The cached capture of ``packets`` packets of a make_capture profile and its ground
    truth; (re)written if stale."""
    data.mkdir(parents=True, exist_ok=True)
    kind = "" if profile == "default" else f"{profile}-"
    path = data / f"dns-{kind}{_label(packets)}-seed{seed}.pcap"
    truth_path = path.with_suffix(".truth.json")
    digest = _generator_digest()
    if path.exists() and truth_path.exists():
        truth: dict[str, Any] = json.loads(truth_path.read_text())
        if (
            truth.get("generator") == digest
            and truth.get("packets") == packets
            and truth.get("seed") == seed
            and truth.get("profile", "default") == profile
            and truth.get("file_bytes") == path.stat().st_size
        ):
            return path, truth
    sys.path.insert(0, str(HERE))
    from make_capture import make_capture

    print(f"writing {path} ({packets:,} packets, {profile} profile) ...", flush=True)
    truth = make_capture(path, packets, seed, profile=profile)
    truth["generator"] = digest
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    print(f"  done in {truth['seconds']:.1f} s", flush=True)
    return path, truth


# --------------------------------------------------------------------------- report


def _row(
    tool: str, packets: int, messages: int, seconds: float, cpu: float, rss: float, size: int
) -> dict[str, Any]:
    return {
        "tool": tool,
        "packets": packets,
        "messages": messages,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "packets_per_s": packets / seconds if seconds else float("nan"),
        "messages_per_s": messages / seconds if seconds else float("nan"),
        "peak_rss_mb": rss,
        "file_mb": size / 1e6,
    }


def print_table(rows: Sequence[dict[str, Any]], tshark_seconds: float | None) -> None:
    head = (
        f"{'tool':<22} {'packets':>11} {'seconds':>8} {'cpu s':>7} {'packets/s':>11} "
        f"{'msgs/s':>11} {'peak RSS MB':>11} {'file MB':>8} {'vs tshark':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{tshark_seconds / r['seconds']:.1f}x" if tshark_seconds else "-"
        print(
            f"{r['tool']:<22} {r['packets']:>11,} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} "
            f"{r['packets_per_s']:>11,.0f} {r['messages_per_s']:>11,.0f} "
            f"{r['peak_rss_mb']:>11,.0f} {r['file_mb']:>8,.0f} {ratio:>9}"
        )


def bench_dnspcap(
    path: Path, truth: dict[str, Any], engine: str | None
) -> tuple[list[dict[str, Any]], bool]:
    """Rows for the first and second call, and whether the message count was right."""
    res = run_child("read", str(path), engine or "")
    if "failed" in res:
        print(f"dnspcap: {res['failed']}")
        return [], False
    packets, size = truth["packets"], truth["file_bytes"]
    rows = []
    for n, call in enumerate(res["calls"], 1):
        tool = "dnspcap (1st call)" if n == 1 else "dnspcap"
        rows.append(
            _row(
                tool,
                packets,
                call["messages"],
                call["seconds"],
                call["cpu_seconds"],
                res["peak_rss_mb"],
                size,
            )
        )
    found = res["calls"][-1]["messages"]
    ok = found == truth["dns_messages"]
    verdict = "OK" if ok else f"MISMATCH (missing {truth['dns_messages'] - found:+,})"
    print(
        f"{path.name}: dnspcap found {found:,} DNS messages, ground truth "
        f"{truth['dns_messages']:,} -> {verdict}; import {res['import_seconds']:.2f} s"
    )
    return rows, ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000, help="capture size")
    parser.add_argument("--also-10m", action="store_true", help="also time a 10M-packet capture")
    parser.add_argument("--skip-tshark", action="store_true", help="do not run tshark")
    parser.add_argument("--engine", help="pass engine=... to read_messages (default: its own)")
    parser.add_argument("--json", type=Path, help="also write all results to this JSON file")
    parser.add_argument(
        "--stage-timeout",
        type=float,
        default=900,
        help="give up on the later pipeline stages after this many seconds (default 900)",
    )
    parser.add_argument(
        "--stage-runs",
        type=int,
        default=3,
        help="fresh processes timing the later stages; the figures are their medians (3)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # internal: one measurement in this fresh process
        kind, *rest = args.child
        if kind == "read":
            out = child_read(rest[0], rest[1] if len(rest) > 1 and rest[1] else None)
        elif kind == "tshark":
            out = child_tshark(rest[0])
        else:
            out = child_stages(rest[0], rest[1])
        print(json.dumps(out))
        return 0

    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    path, truth = ensure_capture(args.packets)
    print(
        f"{path.relative_to(ROOT)}: {truth['packets']:,} packets, {truth['dns_messages']:,} "
        f"DNS messages ({truth['queries']:,} queries, {truth['responses']:,} responses, "
        f"{truth['tcp_messages']:,} over TCP), {truth['file_bytes'] / 1e6:,.0f} MB, "
        f"{truth['duration_s']:.0f} s of traffic"
    )
    report: dict[str, Any] = {"truth": truth, "load_before": load}

    ours, ok = bench_dnspcap(path, truth, args.engine)
    rows = list(ours)
    tshark_seconds = None
    if not args.skip_tshark:
        ts = run_child("tshark", str(path))
        report["tshark"] = ts
        if "failed" in ts or ts["returncode"] != 0:
            print(f"tshark failed: {ts.get('failed') or ts['stderr']}")
        else:
            if ts["stderr"]:
                print("tshark stderr:", *ts["stderr"], sep="\n  ")
            tshark_seconds = ts["seconds"]
            msgs = truth["dns_messages"]
            rows.append(
                _row(
                    "tshark -T fields",
                    truth["packets"],
                    msgs,
                    ts["seconds"],
                    ts["cpu_seconds"],
                    ts["peak_rss_mb"],
                    truth["file_bytes"],
                )
            )
    print()
    print_table(rows, tshark_seconds)
    report["rows"] = rows

    if args.also_10m:
        big_path, big_truth = ensure_capture(10_000_000)
        big_rows, big_ok = bench_dnspcap(big_path, big_truth, args.engine)
        ok = ok and big_ok
        report["rows_10m"] = big_rows
        if big_rows and ours:
            print()
            print_table(big_rows, None)
            small = ours[-1]["seconds"] / ours[-1]["packets"]
            large = big_rows[-1]["seconds"] / big_rows[-1]["packets"]
            cpu = (big_rows[-1]["cpu_seconds"] / big_rows[-1]["packets"]) / (
                ours[-1]["cpu_seconds"] / ours[-1]["packets"]
            )
            print(
                f"\nper-packet cost {large * 1e9:.0f} ns at 10,000,000 packets vs "
                f"{small * 1e9:.0f} ns at {args.packets:,}: ratio {large / small:.2f} "
                f"(CPU time: {cpu:.2f}; 1.00 = linear scaling)"
            )
            report["per_packet_cpu_ratio_10m"] = cpu
            report["per_packet_ratio_10m"] = large / small

    if any(_later_stages_present()):
        warm, _ = ensure_capture(WARMUP_PACKETS)
        runs = [
            run_child("stages", str(path), str(warm), timeout=args.stage_timeout)
            for _ in range(max(args.stage_runs, 1))
        ]
        st = _median_run(runs)
        report["stages"] = st
        report["stage_runs"] = runs
        print(
            f"\npipeline stages (median of {len(runs)} fresh processes, each after running "
            "them on a small capture):"
        )
        print(
            f"  {'stage':<14} {'seconds':>8} {'cpu s':>7} {'warm s':>7} {'packets/s':>11} "
            f"{'rows':>10} {'peak RSS MB':>11} {'RSS after':>9}"
        )
        for s in st.get("stages", []):
            if "seconds" in s:
                rate = truth["packets"] / s["seconds"] if s["seconds"] else float("nan")
                expected = truth.get(STAGE_TRUTH.get(s["stage"], ""))
                check = ""
                if expected is not None and s["rows"] is not None:
                    check = f"  (truth {expected:,})" if s["rows"] != expected else "  (= truth)"
                rows_text = "?" if s["rows"] is None else f"{s['rows']:,}"
                peak = s.get("peak_rss_mb")
                warm_s = f"{s['warm_seconds']:7.2f}" if "warm_seconds" in s else f"{'-':>7}"
                print(
                    f"  {s['stage']:<14} {s['seconds']:8.2f} {s['cpu_seconds']:7.2f} {warm_s} "
                    f"{rate:>11,.0f} {rows_text:>10} {peak or float('nan'):>11,.0f} "
                    f"{s['rss_after_mb']:>9,.0f}{check}"
                )
            else:
                print(f"  {s['stage']:<14} {s.get('skipped') or s.get('error')}")
        if "peak_rss_mb" in st:
            print(f"  peak RSS of the whole process {st['peak_rss_mb']:,.0f} MB")
        file_mb = path.stat().st_size / 1e6
        summary = _grouping_vs_decoding(st.get("stages", []), file_mb)
        if summary:
            report["grouping_vs_decoding"] = summary
            each = [_grouping_vs_decoding(r.get("stages", []), file_mb) for r in runs]
            print(
                f"\npair + lookups, warm: {summary['warm_seconds']:.2f} s "
                f"(CPU {summary['warm_cpu_seconds']:.2f} s) = {summary['warm_ratio']:.2f} x "
                f"read_messages' {summary['warm_read_seconds']:.2f} s "
                f"(CPU ratio {summary['warm_cpu_ratio']:.2f}; target: at most 1.00)"
            )
            print(
                f"pair + lookups, first calls: {summary['seconds']:.2f} s "
                f"(CPU {summary['cpu_seconds']:.2f} s) = {summary['ratio']:.2f} x "
                f"read_messages' {summary['read_seconds']:.2f} s "
                f"(CPU ratio {summary['cpu_ratio']:.2f})"
            )
            for key, what in (("warm_ratio", "warm"), ("ratio", "first calls")):
                ratios = ", ".join(f"{e.get(key, float('nan')):.2f}" for e in each)
                print(f"  each process, {what}: {ratios}")
            print(
                f"memory: read_messages peaked at {summary['read_peak_mb']:,.0f} MB; pair and "
                f"lookups at {summary['peak_mb']:,.0f} MB, {summary['added_mb']:,.0f} MB above "
                f"the {summary['start_mb']:,.0f} MB the process held after read_messages "
                f"(capture file {summary['file_mb']:,.0f} MB)"
            )
        if "failed" in st:
            print(st["failed"])

    load = os.getloadavg()
    report["load_after"] = load
    print(f"\nload average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return 0 if ok else 1


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The stage runs of several processes as one: each figure the median of the runs
    that have it (a stage's error or skip, from the first run that reports one)."""
    first = runs[0]
    stages = []
    for k, entry in enumerate(first.get("stages", [])):
        same = [r["stages"][k] for r in runs if k < len(r.get("stages", []))]
        if "seconds" not in entry or not all("seconds" in x for x in same):
            stages.append(next((x for x in same if "seconds" not in x), entry))
            continue
        merged = dict(entry)
        for key, value in entry.items():
            if isinstance(value, float):
                values = [x[key] for x in same if isinstance(x.get(key), float)]
                merged[key] = statistics.median(values)
        stages.append(merged)
    out: dict[str, Any] = {"stages": stages}
    peaks = [r["peak_rss_mb"] for r in runs if "peak_rss_mb" in r]
    if peaks:
        out["peak_rss_mb"] = statistics.median(peaks)
    failed = [r["failed"] for r in runs if "failed" in r]
    if failed:
        out["failed"] = failed[0]
    return out


def _grouping_vs_decoding(stages: list[dict[str, Any]], file_mb: float) -> dict[str, float]:
    """pair + lookups against read_messages, as issue 3 asks: time, and peak memory."""
    by = {s["stage"]: s for s in stages if "seconds" in s}
    if not {"read_messages", "pair", "lookups"} <= set(by):
        return {}
    r, p, lk = by["read_messages"], by["pair"], by["lookups"]
    seconds = p["seconds"] + lk["seconds"]
    cpu = p["cpu_seconds"] + lk["cpu_seconds"]
    peaks = [x.get("peak_rss_mb") or float("nan") for x in (p, lk)]
    nan = float("nan")
    warm = p.get("warm_seconds", nan) + lk.get("warm_seconds", nan)
    warm_cpu = p.get("warm_cpu_seconds", nan) + lk.get("warm_cpu_seconds", nan)
    return {
        "warm_seconds": warm, "warm_cpu_seconds": warm_cpu,
        "warm_read_seconds": r.get("warm_seconds", nan),
        "warm_ratio": warm / r.get("warm_seconds", nan),
        "warm_cpu_ratio": warm_cpu / r.get("warm_cpu_seconds", nan),
        "seconds": seconds, "cpu_seconds": cpu, "read_seconds": r["seconds"],
        "ratio": seconds / r["seconds"], "cpu_ratio": cpu / r["cpu_seconds"],
        "read_peak_mb": r.get("peak_rss_mb") or float("nan"), "peak_mb": max(peaks),
        "start_mb": p["rss_before_mb"], "added_mb": max(peaks) - p["rss_before_mb"],
        "file_mb": file_mb,
    }  # fmt: skip


def _later_stages_present() -> list[bool]:
    """Which stages after read_messages dnspcap has (checked in a child: no import here)."""
    names = [name for name, _ in STAGES[1:]]
    code = (
        "import dnspcap, json, sys; print(json.dumps([hasattr(dnspcap, n) for n in sys.argv[1:]]))"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-c", code, *names], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        return []
    present: list[bool] = json.loads(proc.stdout.strip().splitlines()[-1])
    return present


if __name__ == "__main__":
    sys.exit(main())
