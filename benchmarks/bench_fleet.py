#!/usr/bin/env python3
"""Many node captures on a local Dask cluster against one process (dnspcap.fleet).

    python benchmarks/bench_fleet.py [--nodes 16] [--packets 1000000] [--workers 2]
                                     [--json FILE]

Writes ``--nodes`` synthetic node captures (make_capture.py, one seed each) of
``--packets`` packets, then, each in a fresh process:

* ``one process``: ``dnspcap.analyze(files)``;
* ``cluster``: a ``distributed.LocalCluster`` of ``--workers`` single-threaded worker
  processes (its start-up timed apart), then ``dnspcap.analyze(files, client=...)``.

For each: wall and CPU time of the analysis, the stages' times (reading, then pairing
to the end), the peak RSS of the process and, for the cluster, of each worker. The
reports must be identical (their JSON); the exit status is 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def ensure_nodes(nodes: int, packets: int) -> list[Path]:
    sys.path.insert(0, str(HERE))
    from make_capture import make_capture

    out = []
    for k in range(nodes):
        # each node its own pods (a node's pod CIDR), as the captures of a cluster's nodes
        path = DATA / f"fleet-nodes-{packets}" / f"node-{k:03d}.pcap"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            make_capture(path, packets, seed=100 + k, node=k)
        out.append(path)
    return out


def child(mode: str, workers: int, files: list[str]) -> dict[str, Any]:
    """Run in a fresh process: the analysis, timed, with its report's digest."""
    import dnspcap

    stages: dict[str, float] = {}
    last = [time.perf_counter(), "start"]

    def stage(name: str) -> None:
        now = time.perf_counter()
        stages[str(last[1])] = now - float(last[0])
        last[:] = [now, name]

    out: dict[str, Any] = {"mode": mode}
    if mode == "one process":
        t0, c0 = time.perf_counter(), time.process_time()
        report = dnspcap.analyze(files, stage=stage)
    else:
        import distributed

        s = time.perf_counter()
        cluster = distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = distributed.Client(cluster)
        client.run(lambda: __import__("dnspcap") and None)  # as this process has it
        out["cluster_start_s"] = time.perf_counter() - s
        out["dashboard"] = client.dashboard_link
        t0, c0 = time.perf_counter(), time.process_time()
        report = dnspcap.analyze(files, client=client, stage=stage)
    stage("end")
    out["seconds"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - c0
    stages.pop("start", None)
    out["stages"] = stages
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["messages"] = report.summary.messages  # not report.messages: a cluster gathers it
    out["findings"] = [(f.code, f.occurrences) for f in report.findings]
    out["digest"] = hashlib.sha256(report.render("json").encode()).hexdigest()
    if mode != "one process":
        peaks = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        out["worker_peak_rss_mb"] = sorted(peaks.values())
        out["worker_cpu_s"] = sorted(client.run(time.process_time).values())
        client.close()
        cluster.close()
    return out


def run_child(mode: str, workers: int, files: list[Path]) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, "--workers", str(workers),
           *map(str, files)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=16)
    p.add_argument("--packets", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--json", type=Path)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.workers, a.files)))
        return 0
    files = ensure_nodes(a.nodes, a.packets)
    nbytes = sum(f.stat().st_size for f in files)
    load = os.getloadavg()[0]
    here = run_child("one process", a.workers, files)
    there = run_child("cluster", a.workers, files)
    same = here["digest"] == there["digest"]
    after = os.getloadavg()[0]
    print(f"{a.nodes} node captures x {a.packets:,} packets, {nbytes / 1e6:,.0f} MB, "
          f"{a.workers} workers; load average before {load:.2f}, after {after:.2f}")  # fmt: skip
    for r in (here, there):
        st = " ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        print(f"  {r['mode']:<12} {r['seconds']:7.2f} s (cpu {r['cpu_s']:.2f} s), "
              f"peak RSS {r['peak_rss_mb']:,.0f} MB; {st}")  # fmt: skip
    print(f"  cluster start-up {there['cluster_start_s']:.2f} s (not counted); workers' peak "
          f"RSS {', '.join(f'{m:,.0f}' for m in there['worker_peak_rss_mb'])} MB")  # fmt: skip
    reading = here["stages"]["reading"] / there["stages"]["reading"]
    print(f"  speed-up {here['seconds'] / there['seconds']:.2f}x; reading {reading:.2f}x; "
          f"identical reports: {same}")  # fmt: skip
    if a.json:
        got = {"one_process": here, "cluster": there, "bytes": nbytes, "nodes": a.nodes,
               "packets": a.packets}  # fmt: skip
        a.json.write_text(json.dumps(got, indent=1))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
