#!/usr/bin/env python3
"""Time ``read_messages`` on captures that stress DNS decoding (``decode_captures.py``).

    python benchmarks/bench_decode.py [--varied 2000000] [--hostile 300000] [--runs 5]
                                      [--tree PATH]

(a) *varied*: many clients and names, one response in ten with an answer set not seen
before; (b) *hostile*: packets to port 53 none of which is well-formed DNS. Each capture
is written once into ``benchmarks/data/`` (git-ignored) and read in a fresh child process:
once to warm the page cache and the code, then ``--runs`` times; the median of those
(wall and CPU seconds) is the figure, as other work on the machine only ever adds time.
``--tree`` imports dnspcap from another checkout (e.g. to time the code before a change);
the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"


def capture(kind: str, packets: int, seed: int) -> Path:
    """The capture, written on first use (delete it after changing decode_captures.py)."""
    from decode_captures import hostile_capture, varied_capture

    path = DATA / f"{kind}-{packets}-seed{seed}.pcap"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        started = time.perf_counter()
        make = varied_capture if kind == "varied" else hostile_capture
        make(path, packets, seed)
        print(f"wrote {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def child(path: str, runs: int) -> dict[str, Any]:
    import dnspcap

    df = dnspcap.read_messages(path)
    rows, errors = len(df), df.attrs["dnspcap"]["decode_errors"]
    del df
    walls, cpus = [], []
    for _ in range(runs):
        cpu, wall = time.process_time(), time.perf_counter()
        dnspcap.read_messages(path)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {"module": dnspcap.__file__, "rows": rows, "errors": errors, "wall": walls, "cpu": cpus}


def measure(path: Path, runs: int, tree: str | None) -> dict[str, Any]:
    code = (
        "import json, sys; sys.path[:0] = [p for p in sys.argv[4:] if p]; "
        "sys.path.insert(1, sys.argv[1]); import bench_decode; "
        "print(json.dumps(bench_decode.child(sys.argv[2], int(sys.argv[3]))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(HERE), str(path), str(runs), tree or ""],
        cwd=DATA, check=True, capture_output=True, text=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(out.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--varied", type=int, default=2_000_000, help="packets (0: skip)")
    parser.add_argument("--hostile", type=int, default=300_000, help="packets (0: skip)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tree", help="import dnspcap from this checkout")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    header = f"{'capture':<10}{'packets':>10}{'errors':>9}{'median s':>10}{'cpu s':>8}"
    print(header + f"{'packets/s':>12}  runs (wall s)")
    for kind, packets in (("varied", args.varied), ("hostile", args.hostile)):
        if not packets:
            continue
        r = measure(capture(kind, packets, args.seed), args.runs, args.tree)
        wall, cpu = statistics.median(r["wall"]), statistics.median(r["cpu"])
        runs = ", ".join(f"{w:.3f}" for w in r["wall"])
        print(
            f"{kind:<10}{packets:>10,}{r['errors']:>9,}{wall:>10.3f}{cpu:>8.3f}"
            f"{packets / wall:>12,.0f}  {runs}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}; dnspcap from {r['module']}")


if __name__ == "__main__":
    main()
