"""The `dnspcap` command line: a thin layer over the library.

Each command parses its options and calls one library function; library
errors become a one-line message and exit status 2 here, at the boundary.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DnspcapError
from ..findings import SEVERITIES, catalogue, render_catalogue
from ..pairing import SKEW_ALLOWANCE_S
from ..pipeline import analyze
from ..reading import check_ports, read_messages
from ..report import FORMATS, Report, render
from ..report.files import EXPORT_FORMATS, SUFFIXES, export_tables
from .progress import Progress, file_size


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dnspcap",
        description="Why are DNS lookups in this Kubernetes pod slow or failing?",
    )
    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument(
        "files", nargs="+", metavar="FILE", help="pcap/pcapng, gzip'd or not; - for stdin"
    )
    inputs.add_argument("--ports", default="53", help="DNS ports, comma separated (default: 53)")
    inputs.add_argument(
        "--multicast", action="store_true", help="also read mDNS (5353) and LLMNR (5355)"
    )
    inputs.add_argument("-o", "--output", help="write here instead of standard output")
    inputs.add_argument(
        "--vantage", action="append", default=[], metavar="NAME=FILES",
        help="name a vantage point: NAME=GLOB[,GLOB...] (e.g. node=node-*.pcap); files of "
        "one vantage point are one recording; may be repeated (default: by file name)",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", parents=[inputs], help="find what is wrong, with evidence")
    a.add_argument(
        "--format", choices=FORMATS,
        help="report format (default: from the -o suffix .md/.html/.json, else text)",
    )  # fmt: skip
    a.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto",
        help="colour the text report (auto: on a terminal, unless NO_COLOR is set)",
    )  # fmt: skip
    a.add_argument(
        "--no-figures", action="store_true", help="leave the figures out of HTML and Markdown"
    )
    a.add_argument("--select", default="", help="only these detector codes, comma separated")
    a.add_argument("--ignore", default="", help="skip these detector codes, comma separated")
    a.add_argument(
        "--option", action="append", default=[], metavar="NAME=VALUE",
        help="a detector threshold (see `dnspcap detectors`); may be repeated",
    )  # fmt: skip
    a.add_argument(
        "--fail-on", choices=SEVERITIES, default="error",
        help="exit 1 when a finding is at least this severe (default: error); a capture "
        "without DNS always exits 1",
    )  # fmt: skip
    a.add_argument(
        "--capture-end", metavar="TIME",
        help="when the capture stopped (ISO 8601, e.g. 2025-11-24T16:00:30Z), if the files "
        "do not say: an unanswered query is pending only within a resolver timeout of it",
    )  # fmt: skip
    a.add_argument(
        "--skew", type=float, default=SKEW_ALLOWANCE_S * 1e6, metavar="US",
        help="a response stamped up to this many microseconds before its query still "
        f"answers it (per-CPU clocks of -i any; default {SKEW_ALLOWANCE_S * 1e6:g})",
    )  # fmt: skip
    m = sub.add_parser("messages", parents=[inputs], help="decode every DNS message into a table")
    m.add_argument("--format", choices=("text", "csv", "json"), default="text")
    m.add_argument("--limit", type=int, default=20, help="rows shown in text format (0: all)")
    m.add_argument("--engine", choices=("auto", "python"), default="auto", help=argparse.SUPPRESS)
    x = sub.add_parser("export", parents=[inputs], help="write the three tables as parquet or csv")
    x.add_argument("--to", choices=EXPORT_FORMATS, default="parquet", help="default: parquet")
    x.add_argument(
        "--tables", default="messages,transactions,lookups",
        help="which tables, comma separated (default: all three)",
    )  # fmt: skip
    sub.add_parser("detectors", help="list the detectors, their codes and thresholds")
    e = sub.add_parser("explain", help="what a detector finds, why it matters, how to fix it")
    e.add_argument("code", metavar="CODE")
    args = parser.parse_args(argv)
    if args.command == "detectors":
        return _write(None, render_catalogue())
    if args.command == "explain":
        doc = {d.code: d for d in catalogue()}.get(args.code.upper())
        if doc is None:
            parser.error(f"unknown detector code {args.code!r}; `dnspcap detectors` lists them")
        return _write(None, f"{doc.code} {doc.name} ({doc.severity})\n\n{doc.doc.strip()}\n")
    try:
        ports = sorted(check_ports(int(p) for p in args.ports.split(",") if p.strip()))
    except ValueError:
        parser.error(f"--ports: not a list of port numbers (1-65535): {args.ports!r}")
    try:
        if args.command == "analyze":
            return _analyze(args, ports, parser)
        if args.command == "export":
            return _export(args, ports, parser)
        df = read_messages(
            args.files, ports=ports, multicast=args.multicast, engine=args.engine,
            vantages=_vantages(args.vantage),
        )  # fmt: skip
        return _write(args.output, _render(df, args.format, args.limit))
    except _Usage as e:
        parser.error(str(e))
    except DnspcapError as e:
        print(f"dnspcap: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # writing the output: a missing folder, a full disk
        print(f"dnspcap: error: {e.filename or args.output}: {e.strerror or e}", file=sys.stderr)
        return 2


def _analyze(args: argparse.Namespace, ports: list[int], parser: argparse.ArgumentParser) -> int:
    options: dict[str, float] = {}
    for item in args.option:
        name, _, value = item.partition("=")
        try:
            options[name.strip()] = float(value)
        except ValueError:
            parser.error(f"--option {item!r}: expected NAME=NUMBER")
    known = {o.name for d in catalogue() for o in d.options}
    if unknown := sorted(set(options) - known):
        parser.error(f"--option: unknown threshold(s) {', '.join(unknown)}")
    codes = {d.code for d in catalogue()}
    select = [c.strip().upper() for c in args.select.split(",") if c.strip()] or None
    ignore = [c.strip().upper() for c in args.ignore.split(",") if c.strip()]
    if bad := sorted((set(select or []) | set(ignore)) - codes):
        parser.error(f"unknown detector code(s): {', '.join(bad)}")
    fmt = args.format or (SUFFIXES.get(Path(args.output).suffix.lower()) if args.output else None)
    fmt = fmt or "text"
    report = _run(args, ports, select=select, ignore=ignore, options=options)
    kwargs: dict[str, Any] = {"figures": not args.no_figures}
    if fmt == "text":
        kwargs = {"color": _color(args.color, args.output)}
    elif fmt == "markdown" and args.output:
        out = Path(args.output)
        kwargs.update(figures_dir=out.parent, figures_prefix=out.stem)
    _write(args.output, render(report, fmt, **kwargs))
    if report.no_dns:  # nothing could be checked: never a pass, whatever --fail-on says
        return 1
    level = report.worst
    failing = level is not None and SEVERITIES.index(level) >= SEVERITIES.index(args.fail_on)
    return 1 if failing else 0


def _run(args: argparse.Namespace, ports: list[int], **detect: Any) -> Report:
    """analyze(), with a progress line on stderr when stderr is a terminal."""
    kwargs: dict[str, Any] = {"ports": ports, "multicast": args.multicast, **detect}
    kwargs["vantages"] = _vantages(args.vantage)
    if getattr(args, "capture_end", None):
        kwargs["capture_end"] = _when(args.capture_end)
    if getattr(args, "skew", None) is not None:
        kwargs["skew"] = args.skew / 1e6
    if not sys.stderr.isatty() or "-" in args.files:
        return analyze(args.files, **kwargs)
    progress = Progress(sum(file_size(f) for f in args.files))
    try:
        return analyze(args.files, stage=progress.set_stage, progress=progress.advance, **kwargs)
    finally:
        progress.close()


def _vantages(items: list[str]) -> dict[str, list[str]] | None:
    """--vantage NAME=GLOB[,GLOB...], repeated, as read_messages takes them."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, globs = item.partition("=")
        if not sep or not name.strip() or not globs.strip():
            raise _Usage(f"--vantage {item!r}: expected NAME=GLOB[,GLOB...]")
        out.setdefault(name.strip(), []).extend(g.strip() for g in globs.split(",") if g.strip())
    return out or None


def _when(text: str) -> pd.Timestamp:
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        msg = f"--capture-end {text!r}: not a time (ISO 8601, e.g. 2025-11-24T16:00:30Z)"
        raise _Usage(msg) from None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


class _Usage(Exception):
    """A bad option value found after parsing: one line, exit status 2."""


def _color(choice: str, output: str | None) -> bool:
    if choice != "auto":
        return choice == "always"
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _export(args: argparse.Namespace, ports: list[int], parser: argparse.ArgumentParser) -> int:
    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    known = ("messages", "transactions", "lookups")
    if bad := [t for t in names if t not in known]:
        parser.error(f"--tables: unknown table(s) {', '.join(bad)}; choose from {', '.join(known)}")
    report = _run(args, ports, select=[])
    tables = {k: v for k, v in report.tables().items() if k in names}
    stem = Path(args.files[0]).name.split(".")[0] if args.files[0] != "-" else "stdin"
    for path in export_tables(tables, Path(args.output or "."), stem, args.to):
        print(path)
    return 0


def _write(output: str | None, text: str) -> int:
    if output:
        with open(output, "w", encoding="utf-8") as f:
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
