"""The `dnspcap` command line: a thin layer over the library.

Each command parses its options and calls one library function; library
errors become a one-line message and exit status 2 here, at the boundary.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pandas as pd

from .errors import DnspcapError
from .messages import read_messages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dnspcap",
        description="Why are DNS lookups in this Kubernetes pod slow or failing?",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("messages", help="decode every DNS message of captures into a table")
    m.add_argument(
        "files", nargs="+", metavar="FILE", help="pcap/pcapng, gzip'd or not; - for stdin"
    )
    m.add_argument("--ports", default="53", help="DNS ports, comma separated (default: 53)")
    m.add_argument(
        "--multicast", action="store_true", help="also read mDNS (5353) and LLMNR (5355)"
    )
    m.add_argument("--format", choices=("text", "csv", "json"), default="text")
    m.add_argument("--limit", type=int, default=20, help="rows shown in text format (0: all)")
    m.add_argument("--engine", choices=("auto", "python"), default="auto", help=argparse.SUPPRESS)
    m.add_argument("-o", "--output", help="write here instead of standard output")
    args = parser.parse_args(argv)
    try:
        ports = [int(p) for p in args.ports.split(",") if p.strip()]
    except ValueError:
        parser.error(f"--ports: not a list of port numbers: {args.ports!r}")
    try:
        df = read_messages(args.files, ports=ports, multicast=args.multicast, engine=args.engine)
    except DnspcapError as e:
        print(f"dnspcap: error: {e}", file=sys.stderr)
        return 2
    text = _render(df, args.format, args.limit)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _render(df: pd.DataFrame, fmt: str, limit: int) -> str:
    if fmt == "csv":
        return str(df.to_csv(index=False))
    if fmt == "json":
        out = df.assign(ts=df["ts"].map(lambda t: t.isoformat()))
        return str(out.to_json(orient="records", lines=True))
    st = df.attrs["dnspcap"]
    queries = int((~df["qr"]).sum())
    lines = [
        f"{st['packets']} packets, {st['messages']} DNS messages "
        f"({queries} queries, {st['messages'] - queries} responses) in {len(st['files'])} file(s)",
        f"decode errors: {st['decode_errors']}, cut short by the capture: {st['truncated']}",
    ]
    lines += [f"warning: {w}" for w in st["warnings"]]
    shown = df if limit == 0 else df.head(limit)
    lines += ["", _table(shown)] if len(shown) else []
    if limit and len(df) > limit:
        lines.append(f"... {len(df) - limit} more rows (--limit 0 shows all, --format csv exports)")
    return "\n".join(lines) + "\n"


def _table(df: pd.DataFrame) -> str:
    """A compact view for a terminal: the columns an engineer reads first."""
    view = pd.DataFrame(
        {
            "frame": df["frame"],
            "time (UTC)": df["ts"].dt.strftime("%H:%M:%S.%f"),
            "from": df["src"].astype(str) + ":" + df["sport"].astype(str),
            "to": df["dst"].astype(str) + ":" + df["dport"].astype(str),
            "proto": df["transport"],
            "id": df["id"].map("0x{:04x}".format),
            "flags": df["flags"],
            "rcode": df["rcode"].astype(str).where(df["qr"], ""),
            "qtype": df["qtype"],
            "qname": df["qname"]
            .astype(str)
            .str.ljust(int(df["qname"].astype(str).str.len().max())),
            "answers": df["answers"].astype(str).str.slice(0, 48),
            "error": df["error"],
        }
    )
    return str(view.to_string(index=False))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
