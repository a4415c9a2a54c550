"""A finding's packets as Wireshark dissects them, through pyshark and tshark.

dnspcap decodes DNS; Wireshark dissects every layer of a packet, and an engineer who
wants to see the Ethernet, IP and UDP headers, the flags and every record of exactly the
packets a finding names opens them here: each file is read by tshark through the display
filter the finding prints for it (``frame.number in {...}``), and each packet comes back
as a pyshark packet with its dissection tree.

pyshark (``pip install 'dnspcap[inspect]'``) and tshark (Wireshark's command line:
``apt-get install tshark``) are optional and only needed here; without either the error
says which is missing and how to get it.

pyshark's capture classes run tshark under asyncio, which cannot start inside the event
loop Jupyter already runs (and races Python 3.11's child watcher in a worker thread:
"Unknown child process"). So dnspcap runs tshark itself, without asyncio, and hands each
packet of its PDML output to pyshark's parser: the same pyshark packets, and the same code
in a notebook, a script and a test.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html import escape
from typing import Any

from ..errors import CaptureError, DnspcapError

MAX_PACKETS = 1_000  # a dissection tree is ~100 lines: more is for tshark itself


@dataclass(frozen=True, slots=True)
class Dissected:
    """One packet: the file it is in, its frame number there, and pyshark's packet (its
    layers as attributes: ``packet.dns.qry_name``, ``packet.ip.ttl``; ``packet.layers``)."""

    file: str
    frame: int
    packet: Any

    @property
    def tree(self) -> str:
        """Wireshark's dissection of the packet, layer by layer, field by field."""
        return str(self.packet).rstrip()


class Dissection(list[Dissected]):
    """The dissected packets, file by file in frame order; ``print()`` shows every tree,
    Jupyter shows each packet as a fold of its tree."""

    def __init__(self, packets: Iterable[Dissected], filters: Mapping[str, str]) -> None:
        super().__init__(packets)
        self.filters = dict(filters)  # per file, the display filter tshark read it through

    def __str__(self) -> str:
        return "\n\n".join(f"== {p.file} frame {p.frame} ==\n{p.tree}" for p in self)

    def __repr__(self) -> str:
        files = len({p.file for p in self})
        return f"<dnspcap.Dissection {len(self)} packets from {files} file{'s' * (files != 1)}>"

    def _repr_html_(self) -> str:
        folds = [
            f"<details><summary>{escape(p.file)} frame {p.frame}: "
            f"{escape(' / '.join(layer.layer_name.upper() for layer in p.packet.layers))}"
            f"</summary><pre>{escape(p.tree)}</pre></details>"
            for p in self
        ]
        return f"<p>{escape(repr(self))}</p>" + "".join(folds)


def dissect(
    filters: Mapping[str, str], *, limit: int = MAX_PACKETS, tshark_path: str | None = None
) -> Dissection:
    """The packets of each file that its Wireshark display filter shows (a finding's
    ``display_filters``), dissected by tshark; at most ``limit`` packets.

    Raises :class:`~dnspcap.errors.DnspcapError` when pyshark or tshark is missing and
    :class:`~dnspcap.errors.CaptureError` when a file is gone or tshark cannot read it.
    """
    parse, tshark = _tools(tshark_path)
    filters = {os.fspath(file): text for file, text in filters.items() if text}
    out: list[Dissected] = []
    for file, text in filters.items():
        if len(out) >= limit:
            break
        out += _read(parse, tshark, file, text, limit - len(out))
    return Dissection(out, filters)


def _tools(tshark_path: str | None) -> tuple[Any, str]:
    """pyshark's PDML parser, and the tshark to run, or an error that says how to get them."""
    try:
        from pyshark.tshark.output_parser.tshark_xml import packet_from_xml_packet
        from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path
    except ImportError:
        raise DnspcapError(
            "dissecting packets needs pyshark: pip install 'dnspcap[inspect]'"
        ) from None
    if tshark_path is not None and not os.access(tshark_path, os.X_OK):
        raise DnspcapError(f"tshark_path {tshark_path!r}: no such program")
    try:
        return packet_from_xml_packet, str(get_process_path(tshark_path))
    except TSharkNotFoundException:
        raise DnspcapError(
            "dissecting packets needs tshark, Wireshark's command line (apt-get install "
            "tshark, dnf install wireshark-cli, brew install wireshark), or its path as "
            "tshark_path"
        ) from None


def _read(parse: Any, tshark: str, file: str, text: str, limit: int) -> list[Dissected]:
    """One file's packets through its filter: tshark's PDML, a packet at a time."""
    if file == "-":
        raise CaptureError(file, "the capture was read from standard input and is gone; "
                                 "save it to a file to dissect its packets")  # fmt: skip
    if not os.path.exists(file):
        raise CaptureError(file, "no such file (the finding's capture was moved or removed)")
    # -n: no name lookups (a DNS investigation must not send DNS queries of its own)
    command = [tshark, "-n", "-r", file, "-Y", text, "-T", "pdml"]
    out: list[Dissected] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        lines: list[bytes] = []
        for line in proc.stdout:
            if line.strip() == b"<packet>":
                lines = [line]
            elif lines:
                lines.append(line)
                if line.strip() == b"</packet>":
                    packet = parse(b"".join(lines))
                    out.append(Dissected(file, int(packet.number), packet))
                    lines = []
                    if len(out) >= limit:
                        proc.kill()
                        return out
        errors = proc.stderr.read().decode("utf-8", "replace")
        status = proc.wait()
    if status != 0:
        # its message ("tshark: ..."), not the filter and the caret under it that follow
        said = [x.strip() for x in errors.splitlines() if x.startswith("tshark:")]
        reason = said[0] if said else f"exit status {status}"
        raise CaptureError(file, f"tshark could not read it through {_clip(text)}: {reason}")
    return out


def _clip(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")
