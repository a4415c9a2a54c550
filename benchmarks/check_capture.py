#!/usr/bin/env python3
"""Check the synthetic capture: reproducible, well-formed, and counted right.

    python benchmarks/check_capture.py [--packets 200000] [--seed 1] [--profile many-clients]

Writes the capture twice with the same seed and compares the bytes, then lets
tshark judge it: every DNS message the ground truth counts is one tshark decodes
(``-Y dns``), nothing is malformed or an expert-info error, and every IPv4, UDP
and TCP checksum verifies. Exits 1 if anything is off.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from make_capture import make_capture  # this script's folder is on sys.path

TSHARK = shutil.which("tshark") or "/usr/bin/tshark"
CHECKSUMS: tuple[str, ...] = ("-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE")
CHECKSUMS += ("-o", "tcp.check_checksum:TRUE")


def tshark(path: Path, *args: str) -> list[str]:
    out = subprocess.run(
        [TSHARK, "-r", str(path), *args], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    # the hostile profile is malformed on purpose: these checks are for the other two
    parser.add_argument("--profile", choices=("default", "many-clients"), default="default")
    args = parser.parse_args(argv)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a.pcap"), Path(tmp, "b.pcap")
        truth = make_capture(a, args.packets, args.seed, profile=args.profile)
        make_capture(b, args.packets, args.seed, profile=args.profile)
        digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (a, b)}
        print(f"same seed twice: {'identical' if len(digests) == 1 else 'DIFFERENT'}")
        if len(digests) != 1:
            failures.append("not reproducible")

        dns = len(tshark(a, "-Y", "dns"))
        print(f"tshark -Y dns: {dns:,} frames; ground truth: {truth['dns_messages']:,} messages")
        if dns != truth["dns_messages"]:
            failures.append("DNS message count differs from tshark's")

        bad = tshark(a, "-Y", "_ws.malformed || _ws.expert.severity >= error")
        print(f"malformed or expert errors: {len(bad)}")
        failures += [f"tshark: {line}" for line in bad[:5]]

        fields = ("ip.checksum.status", "udp.checksum.status", "tcp.checksum.status")
        status = Counter(
            value
            for line in tshark(
                a, *CHECKSUMS, "-T", "fields", *(x for f in fields for x in ("-e", f))
            )
            for value in line.split("\t")
            if value
        )
        print(f"checksum status (1 = good): {dict(status)}")
        if set(status) - {"1"}:
            failures.append("bad checksums")

        kinds = tshark(a, "-Y", "dns.flags.response == 1", "-T", "fields", "-e", "dns.flags.rcode")
        print(f"response rcodes: {dict(Counter(kinds))}")
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
