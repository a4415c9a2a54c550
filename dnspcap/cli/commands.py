"""The `dnspcap` command line: a thin layer over the library.

Each command parses its options and calls one library function. Library errors, and
option values found wrong after parsing (a port out of range, an unknown detector),
become one line on stderr and exit status 2 here, at the boundary.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import DnspcapError
from ..findings import SEVERITIES, Detector, catalogue, render_catalogue
from ..fleet import analyze, connect, dashboard, export_dataset
from ..pairing import SKEW_ALLOWANCE_S
from ..reading import check_ports, read_messages
from ..report import FORMATS, Report, render
from ..report.drawing import Painter
from ..report.files import EXPORT_FORMATS, SUFFIXES, csv_text, export_tables, json_lines
from ..times import digits_of
from .progress import Progress, file_size

Command = Callable[[argparse.Namespace], int]
Subparsers = Any  # argparse's private _SubParsersAction

TABLES = ("messages", "transactions", "lookups")
MESSAGE_FORMATS = ("text", "csv", "json")
MESSAGE_SUFFIXES = {".txt": "text", ".csv": "csv", ".json": "json", ".jsonl": "json",
                    ".ndjson": "json"}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Command = args.run
    # what the command holds open until it is done (a cluster, whose workers hold the tables)
    args.held = contextlib.ExitStack()
    try:
        with args.held:
            return run(args)
    except (_Usage, DnspcapError) as e:
        return _error(str(e))
    except OSError as e:  # writing the output: a missing folder, a full disk
        return _error(f"{e.filename or getattr(args, 'output', '')}: {e.strerror or e}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnspcap",
        description="Why are DNS lookups in this Kubernetes pod slow or failing?",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    inputs = _inputs()
    _add_analyze(sub, inputs)
    _add_messages(sub, inputs)
    _add_export(sub, inputs)
    _add_catalogue(sub)
    _add_watch(sub)
    for name in ("analyze", "export"):
        _add_scheduler(sub.choices[name])
    return parser


def _inputs() -> argparse.ArgumentParser:
    """The options of every command that reads captures."""
    inputs = argparse.ArgumentParser(add_help=False)
    inputs.add_argument(
        "files", nargs="+", metavar="FILE", help="pcap/pcapng, gzip'd or not; - for stdin"
    )
    inputs.add_argument(
        "--ports", default="53", help="DNS ports (1-65535), comma separated (default: 53)"
    )
    inputs.add_argument(
        "--multicast", action="store_true", help="also read mDNS (5353) and LLMNR (5355)"
    )
    inputs.add_argument(
        "--vantage", action="append", default=[], metavar="NAME=FILES",
        help="name a vantage point: NAME=GLOB[,GLOB...] (e.g. node=node-*.pcap); files of "
        "one vantage point are one recording; may be repeated (default: by file name)",
    )  # fmt: skip
    return inputs


# ---------------------------------------------------------------------------- analyze


def _add_analyze(sub: Subparsers, inputs: argparse.ArgumentParser) -> None:
    a = sub.add_parser("analyze", parents=[inputs], help="find what is wrong, with evidence")
    a.set_defaults(run=_analyze)
    a.add_argument(
        "-o", "--output", metavar="FILE",
        help="write the report to FILE instead of standard output; its suffix chooses the "
        "format (.md, .html, .json, else text) unless --format says",
    )  # fmt: skip
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
    a.add_argument(
        "--select", default="", help="only these detectors (codes or names), comma separated"
    )
    a.add_argument("--ignore", default="", help="skip these detectors (codes or names)")
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
    a.add_argument(
        "-j", "--jobs", type=_jobs, default=0, metavar="N",
        help="processes that analyse parts of a big capture's clients side by side "
        "(default 0: one per processor this command may use; 1: one process)",
    )  # fmt: skip


def _jobs(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more processes, got {n}")
    return n


def _analyze(args: argparse.Namespace) -> int:
    options = _thresholds(args.option)
    select = _detectors(args.select, "--select") or None
    ignore = _detectors(args.ignore, "--ignore")
    # the figures are drawn in a child forked now, while the process is small, and handed
    # their data as soon as it is known (drawing.py)
    painter = Painter() if _draws_figures(args) else None
    try:
        plots = painter.start if painter is not None else None
        report = _run(args, select=select, ignore=ignore, options=options, plots=plots,
                      workers=args.jobs)  # fmt: skip
        return _report_exit(report, args, painter)
    finally:
        if painter is not None:
            painter.close()


def _thresholds(items: list[str]) -> dict[str, float]:
    """--option NAME=NUMBER, repeated, each the name of a detector's threshold."""
    options: dict[str, float] = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            options[name.strip()] = float(value)
        except ValueError:
            raise _Usage(f"--option {item!r}: expected NAME=NUMBER") from None
    known = {o.name for d in catalogue() for o in d.options}
    if unknown := sorted(set(options) - known):
        raise _Usage(f"--option: unknown threshold(s) {', '.join(unknown)}")
    return options


def _detectors(text: str, option: str) -> list[str]:
    """A comma-separated list of detectors, by code or name, as codes."""
    return [_detector(item, option).code for item in text.split(",") if item.strip()]


def _detector(given: str, what: str = "detector") -> Detector:
    """A detector by its code (DNS001, any case) or its name (conntrack.race); an unknown
    one is a usage error that suggests the nearest."""
    known = {d.code: d for d in catalogue()} | {d.name: d for d in catalogue()}
    key = given.strip()
    code = re.fullmatch(r"(?i)dns0*(\d{1,3})", key)
    if code:  # dns1, DNS01: DNS001
        key = f"DNS{int(code.group(1)):03d}"
    found = known.get(key.upper()) or known.get(key.lower())
    if found is not None:
        return found
    # a near name, never a near code: DNS009 is no better a guess for DNS999 than any
    names = {d.name: d for d in catalogue()}
    near = [] if code else difflib.get_close_matches(key.lower(), list(names), n=1)
    hint = f"; did you mean {names[near[0]].code} ({near[0]})?" if near else ""
    raise _Usage(f"{what}: unknown detector {given!r}{hint} (`dnspcap detectors` lists them)")


def _run(args: argparse.Namespace, **detect: Any) -> Report:
    """analyze(), with a progress line on stderr when stderr is a terminal."""
    kwargs: dict[str, Any] = {"ports": _ports(args.ports), "multicast": args.multicast, **detect}
    kwargs["vantages"] = _vantages(args.vantage)
    if getattr(args, "capture_end", None):
        kwargs["capture_end"] = _when(args.capture_end)
    if getattr(args, "skew", None) is not None:
        kwargs["skew"] = args.skew / 1e6
    if getattr(args, "scheduler", None):
        return _run_on_cluster(args, kwargs)
    if not sys.stderr.isatty() or "-" in args.files:
        return analyze(args.files, **kwargs)
    progress = Progress(sum(file_size(f) for f in args.files))
    try:
        return analyze(args.files, stage=progress.set_stage, progress=progress.advance, **kwargs)
    finally:
        progress.close()


def _when(text: str) -> pd.Timestamp:
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        msg = f"--capture-end {text!r}: not a time (ISO 8601, e.g. 2025-11-24T16:00:30Z)"
        raise _Usage(msg) from None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _color(choice: str, output: str | None) -> bool:
    if choice != "auto":
        return choice == "always"
    return output is None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


# ---------------------------------------------------------------------------- messages


def _add_messages(sub: Subparsers, inputs: argparse.ArgumentParser) -> None:
    m = sub.add_parser("messages", parents=[inputs], help="decode every DNS message into a table")
    m.set_defaults(run=_messages)
    m.add_argument(
        "-o", "--output", metavar="FILE",
        help="write every message to FILE instead of standard output; its suffix chooses "
        "the format (.csv, .json, else text) unless --format says",
    )  # fmt: skip
    m.add_argument(
        "--format", choices=MESSAGE_FORMATS,
        help="text: the read statistics and a table (on a terminal, the first --limit rows); "
        "csv: one row per message, times in ISO 8601 UTC; json: the same as JSON lines, one "
        "object per message (default: from the -o suffix, else text)",
    )  # fmt: skip
    m.add_argument(
        "--limit", type=int, default=20,
        help="rows the text format shows on standard output (default 20; 0: all); a file "
        "always gets every row",
    )  # fmt: skip
    m.add_argument("--engine", choices=("auto", "python"), default="auto", help=argparse.SUPPRESS)


def _messages(args: argparse.Namespace) -> int:
    fmt = args.format or _suffix_format(args.output, MESSAGE_SUFFIXES) or "text"
    df = read_messages(
        args.files, ports=_ports(args.ports), multicast=args.multicast, engine=args.engine,
        vantages=_vantages(args.vantage),
    )  # fmt: skip
    return _write(args.output, _render(df, fmt, 0 if args.output else args.limit))


def _render(df: pd.DataFrame, fmt: str, limit: int) -> str:
    digits = digits_of(df.attrs.get("dnspcap"))
    if fmt == "csv":
        return csv_text(df, digits)
    if fmt == "json":
        return json_lines(df, digits)
    st = df.attrs["dnspcap"]
    queries = int((~df["qr"]).sum())
    lines = [
        f"{st['packets']} packets, {st['messages']} DNS messages "
        f"({queries} queries, {st['messages'] - queries} responses) in {len(st['files'])} file(s)",
        f"decode errors: {st['decode_errors']}, cut short by the capture: {st['truncated']}",
    ]
    lines += [f"warning: {w}" for w in st["warnings"]]
    shown = df if limit <= 0 else df.head(limit)
    lines += ["", _table(shown)] if len(shown) else []
    if len(df) > len(shown):
        lines.append(f"... {len(df) - limit} more rows (--limit 0 shows all, -o FILE keeps all)")
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


# ---------------------------------------------------------------------------- export


def _add_export(sub: Subparsers, inputs: argparse.ArgumentParser) -> None:
    x = sub.add_parser("export", parents=[inputs], help="write the three tables as parquet or csv")
    x.set_defaults(run=_export)
    # a folder, always named: three files never land unasked in the current folder (a
    # source tree, a home directory)
    x.add_argument(
        "-o", "--output", metavar="DIR", required=True,
        help="the folder to write the tables into, created if missing, as "
        "DIR/<first capture's name>.<table>.<parquet|csv>; required (-o . for the current "
        "folder); the paths written are printed",
    )  # fmt: skip
    x.add_argument("--to", choices=EXPORT_FORMATS, default="parquet", help="default: parquet")
    x.add_argument(
        "--tables", default=",".join(TABLES),
        help="which tables, comma separated (default: all three)",
    )  # fmt: skip


def _export(args: argparse.Namespace) -> int:
    names = [t.strip() for t in args.tables.split(",") if t.strip()]
    if bad := [t for t in names if t not in TABLES]:
        known = ", ".join(TABLES)
        raise _Usage(f"--tables: unknown table(s) {', '.join(bad)}; choose from {known}")
    report = _run(args, select=[], part_messages=None)  # the whole's tables are the point
    if getattr(args, "scheduler", None) and args.to == "parquet":
        return _export_dataset(report, Path(args.output), names)
    tables = {k: v for k, v in report.tables().items() if k in names}
    stem = Path(args.files[0]).name.split(".")[0] if args.files[0] != "-" else "stdin"
    digits = digits_of(report.stats)
    for path in export_tables(tables, Path(args.output), stem, args.to, digits):
        print(path)
    return 0


# ---------------------------------------------------------------------------- cluster


def _add_scheduler(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="read the capture sets on a Dask cluster: its scheduler's address "
        "(tcp://host:8786), or local:N for N local workers; export --to parquet then writes "
        "a dataset per table, partitioned by capture set and hour; needs pip install "
        "'dnspcap[dask]'",
    )  # fmt: skip


def _run_on_cluster(args: argparse.Namespace, kwargs: dict[str, Any]) -> Report:
    """analyze() with each capture set read on a worker; the dashboard's address and, on a
    terminal, the capture sets read so far on stderr. The cluster stays open until the
    command is done: its workers hold the parts' tables, which an export asks for."""
    client = args.held.enter_context(connect(args.scheduler))
    if link := dashboard(client):
        print(f"Dask dashboard: {link}", file=sys.stderr)
    if not sys.stderr.isatty():
        return analyze(args.files, client=client, **kwargs)
    progress = Progress(0)
    try:
        return analyze(
            args.files, client=client, stage=progress.set_stage,
            sets_done=progress.sets_done, **kwargs,
        )  # fmt: skip
    finally:
        progress.close()


def _export_dataset(report: Report, directory: Path, names: list[str]) -> int:
    """export --scheduler --to parquet: a dataset per table, by capture set and hour."""
    for path in export_dataset(report, directory, names):
        print(path)
    return 0


# ---------------------------------------------------------------------------- detectors


def _add_catalogue(sub: Subparsers) -> None:
    d = sub.add_parser("detectors", help="list the detectors, their codes and thresholds")
    d.set_defaults(run=_list_detectors)
    e = sub.add_parser("explain", help="what a detector finds, why it matters, how to fix it")
    e.set_defaults(run=_explain)
    e.add_argument("code", metavar="DETECTOR", help="its code (DNS001) or name (conntrack.race)")


def _list_detectors(args: argparse.Namespace) -> int:
    return _write(None, render_catalogue())


def _explain(args: argparse.Namespace) -> int:
    d = _detector(args.code, "explain")
    return _write(None, f"{d.code} {d.name} ({d.severity})\n\n{d.doc.strip()}\n")


# ---------------------------------------------------------------------------- watch


def _add_watch(sub: Subparsers) -> None:
    w = sub.add_parser(
        "watch", help="watch a capture as it is taken: findings as they are confirmed, "
        "then the report",
    )  # fmt: skip
    w.set_defaults(run=_watch)
    w.add_argument(
        "source", nargs="?", metavar="SOURCE",
        help="- for a pcap/pcapng stream on stdin (tcpdump -U -w - | dnspcap watch -), or a "
        "capture file still being written (followed); none with -i",
    )  # fmt: skip
    w.add_argument("-i", "--interface", help="capture live on this interface (tcpdump/dumpcap)")
    w.add_argument("--netns", metavar="PID|NAME", help="the network namespace of -i (a pod's)")
    w.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    w.add_argument(
        "--no-follow", action="store_true",
        help="read the file to its end and stop, instead of waiting for more",
    )  # fmt: skip
    w.add_argument(
        "-w", "--write", metavar="FILE",
        help="keep what stdin or -i brought as a capture file (the report is made of it)",
    )  # fmt: skip
    w.add_argument("--no-report", action="store_true", help="only the lines, no report at the end")
    w.add_argument(
        "--exact", action="store_true",
        help="the report at the end is analyze of the whole capture, read again (the "
        "memory of the whole capture at the end; see docs/watch.md)",
    )  # fmt: skip
    w.add_argument("--ports", default="53", help="DNS ports, comma separated (default: 53)")
    w.add_argument("--multicast", action="store_true", help="also read mDNS and LLMNR")
    w.add_argument("-o", "--output", metavar="FILE", help="write the final report to FILE")
    w.add_argument("--format", choices=FORMATS, help="the final report's format (as analyze)")
    w.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    w.add_argument("--no-figures", action="store_true", help="no figures in HTML and Markdown")
    w.add_argument("--select", default="", help="only these detectors, comma separated")
    w.add_argument("--ignore", default="", help="skip these detectors")
    w.add_argument("--option", action="append", default=[], metavar="NAME=VALUE")
    w.add_argument(
        "--fail-on", choices=SEVERITIES, default="error",
        help="exit 1 when a finding is at least this severe (default: error)",
    )  # fmt: skip
    w.add_argument("--skew", type=float, default=SKEW_ALLOWANCE_S * 1e6, metavar="US")


def _watch(args: argparse.Namespace) -> int:
    from ..watch import live
    from ..watch.run import Settings
    from ..watch.source import Follow, Pipe

    if (args.source is None) == (args.interface is None):
        raise _Usage("watch: give a SOURCE (- or a file) or -i INTERFACE, not both")
    if args.netns and not args.interface:
        raise _Usage("watch: --netns needs -i INTERFACE")
    settings = Settings(
        ports=_ports(args.ports), multicast=args.multicast,
        select=_detectors(args.select, "--select") or None,
        ignore=_detectors(args.ignore, "--ignore"), options=_thresholds(args.option),
        skew=args.skew / 1e6, duration=args.duration,
        evidence=not args.no_report,  # the messages a report would show, kept as it goes
    )  # fmt: skip
    stop = threading.Event()
    command = None
    if args.interface:  # before anything is created: a missing tool or privilege
        command = live.command(args.interface, args.netns, settings.ports)
    if command is None and args.source != "-":  # files: their evidence is read again
        settings = dataclasses.replace(settings, evidence=False)
        return _watch_run(args, settings, Follow(args.source, stop, follow=not args.no_follow))
    # a stream is kept in a file for the report (none with --no-report and no -w)
    path = os.devnull if args.no_report and not args.write else args.write or _spool_path()
    try:
        with open(path, "wb") as spool:
            if command is None:
                stream = Pipe(sys.stdin.fileno(), "stdin", stop, spool)
                return _watch_run(args, settings, stream, path)
            proc = live.start(command)
            try:
                assert proc.stdout is not None
                stream = Pipe(proc.stdout.fileno(), args.interface, stop, spool)
                return _watch_run(args, settings, stream, path, proc)
            finally:
                proc.terminate()
                proc.wait()
    finally:
        if not args.write and path != os.devnull:
            Path(path).unlink(missing_ok=True)


def _watch_run(
    args: argparse.Namespace,
    settings: Any,
    stream: Any,
    spooled: str | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> int:
    """Watch the stream, its past kept in a temporary folder (memory holds a few steps
    of it, whatever the watch's length), then the report."""
    with tempfile.TemporaryDirectory(prefix="dnspcap-watch-") as past:
        settings = dataclasses.replace(settings, spill=Path(past))
        return _watch_steps(args, settings, stream, spooled, proc)


def _watch_steps(
    args: argparse.Namespace,
    settings: Any,
    stream: Any,
    spooled: str | None,
    proc: subprocess.Popen[bytes] | None,
) -> int:
    """Watch the stream, then the report (of the spool, or of the followed files)."""
    from ..watch import live
    from ..watch.run import stderr_terminal, watch

    color = _color(args.color, None)
    spool = getattr(stream, "spool", None)
    try:
        engine, events = watch(
            stream, settings, out=sys.stdout, status=stderr_terminal(), color=color
        )
    except DnspcapError:
        why = live.failure(proc) if proc is not None else None
        if why is not None:  # tcpdump's own reason (no such device, no permission)
            raise live.LiveError(f"live capture on {args.interface}: {why}") from None
        raise
    finally:
        files = []
        while stream is not None:  # a followed file and the rotated files after it
            files.append(stream.name)
            stream.close()
            stream = getattr(stream, "next", None)
    if args.no_report:
        worst = [SEVERITIES.index(e.severity) for e in events]
        return int(bool(worst) and max(worst) >= SEVERITIES.index(args.fail_on))
    if spool is not None:
        spool.flush()  # the report reads it
    painter = Painter() if _draws_figures(args) else None
    try:
        report = _watch_report(engine, args, settings, files, spooled, painter)
        return _report_exit(report, args, painter)
    finally:
        if painter is not None:
            painter.close()


def _watch_report(
    engine: Any,
    args: argparse.Namespace,
    settings: Any,
    files: list[str],
    spooled: str | None,
    painter: Painter | None = None,
) -> Report:
    """The report of a watch: its parts' scans judged, the evidence the watch kept of a
    stream, or read back from the followed files (``analyze`` of the spool or the files
    when they held no DNS: what they held instead is the verdict). The painter draws the
    figures meanwhile."""
    from ..watch.readback import read_back

    paths = [spooled] if spooled else files
    kept = dict(ports=settings.ports, multicast=args.multicast, select=settings.select,
                ignore=settings.ignore, options=settings.options, skew=settings.skew)  # fmt: skip
    plots = painter.start if painter is not None else None
    if args.exact or not engine.saw_dns:
        return analyze(paths, plots=plots, **kept)

    def gather() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        whole = analyze(paths, part_messages=None, **kept)
        return whole.messages, whole.transactions, whole.lookups

    def again(frames: dict[str, set[int]]) -> pd.DataFrame:  # the followed files, read again
        return read_back(files, frames, ports=settings.ports, multicast=args.multicast)

    # a stream's evidence and statistics are the watch's own (dnspcap/watch/shown.py)
    return engine.report(  # type: ignore[no-any-return]
        None if spooled else again, ports=settings.ports, gather=gather, plots=plots
    )


def _spool_path() -> str:
    fd, path = tempfile.mkstemp(prefix="dnspcap-watch-", suffix=".pcap")
    os.close(fd)
    return path


def _report_format(args: argparse.Namespace) -> str:
    return str(args.format or _suffix_format(args.output, SUFFIXES) or "text")


def _draws_figures(args: argparse.Namespace) -> bool:
    """Whether the report written will hold figures: HTML, or Markdown to a file."""
    fmt = _report_format(args)
    return not args.no_figures and (fmt == "html" or (fmt == "markdown" and bool(args.output)))


def _report_exit(report: Report, args: argparse.Namespace, painter: Painter | None = None) -> int:
    """Write the report (analyze's, or watch's at the end), and the exit status --fail-on
    asks for."""
    fmt = _report_format(args)
    kwargs: dict[str, Any] = {"figures": not args.no_figures, "painter": painter}
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


# ---------------------------------------------------------------------------- shared


class _Usage(Exception):
    """A bad option value found after parsing: one line, exit status 2."""


def _error(message: str) -> int:
    print(f"dnspcap: error: {message}", file=sys.stderr)
    return 2


def _ports(text: str) -> list[int]:
    """--ports 53,5300: port numbers 1-65535, as read_messages checks them."""
    try:
        numbers = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise _Usage(f"--ports {text!r}: not a list of port numbers (1-65535)") from None
    try:
        return sorted(check_ports(numbers))
    except ValueError as e:
        raise _Usage(f"--ports {text!r}: {e}") from None


def _vantages(items: list[str]) -> dict[str, list[str]] | None:
    """--vantage NAME=GLOB[,GLOB...], repeated, as read_messages takes them."""
    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, globs = item.partition("=")
        if not sep or not name.strip() or not globs.strip():
            raise _Usage(f"--vantage {item!r}: expected NAME=GLOB[,GLOB...]")
        out.setdefault(name.strip(), []).extend(g.strip() for g in globs.split(",") if g.strip())
    return out or None


def _suffix_format(output: str | None, suffixes: dict[str, str]) -> str | None:
    return suffixes.get(Path(output).suffix.lower()) if output else None


def _write(output: str | None, text: str) -> int:
    if output:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0
