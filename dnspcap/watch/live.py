"""A live interface, in a network namespace or not: tcpdump (or dumpcap) writes the
capture to a pipe the watch reads (``--netns PID|NAME -i IFACE``).

A pod's network namespace is entered with ``nsenter -t PID -n`` (a PID: a process of the
pod, e.g. from ``crictl inspect``) or ``ip netns exec NAME`` (a named namespace). Both,
and capturing, need root (CAP_SYS_ADMIN and CAP_NET_RAW): without them, or without the
tools, the watch says so in one line before it starts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable

from ..errors import DnspcapError


class LiveError(DnspcapError):
    """A live capture cannot start: a tool missing, no privilege, a bad interface."""


def capture_filter(ports: Iterable[int]) -> str:
    """DNS on its ports, ICMP errors (a dead server's port unreachable) and IP fragments
    (a large answer's later pieces carry no port)."""
    dns = " or ".join(f"port {p}" for p in sorted(set(ports)))
    return f"{dns} or icmp or icmp6 or (ip[6:2] & 0x1fff != 0)"


def command(interface: str, netns: str | None, ports: Iterable[int]) -> list[str]:
    """The command that writes the interface's DNS traffic as a pcap stream on stdout."""
    tcpdump, dumpcap = shutil.which("tcpdump"), shutil.which("dumpcap")
    if tcpdump:
        cap = [tcpdump, "-U", "-n", "-s", "0", "-i", interface, "-w", "-", capture_filter(ports)]
    elif dumpcap:
        cap = [dumpcap, "-q", "-i", interface, "-w", "-", "-f", capture_filter(ports)]
    else:
        raise LiveError(
            "live capture needs tcpdump or dumpcap, and neither is installed (e.g. apt "
            "install tcpdump); or pipe a capture in: tcpdump -U -w - | dnspcap watch -"
        )
    if os.geteuid() != 0:
        where = f"in network namespace {netns} " if netns else ""
        raise LiveError(
            f"capturing on {interface} {where}needs root (CAP_NET_RAW"
            f"{', CAP_SYS_ADMIN to enter the namespace' if netns else ''}): run with sudo"
        )
    if netns is None:
        return cap
    if netns.isdigit():
        if not os.path.exists(f"/proc/{netns}/ns/net"):
            raise LiveError(f"--netns {netns}: no such process")
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise LiveError("--netns PID needs nsenter (util-linux), which is not installed")
        return [nsenter, "-t", netns, "-n", "--", *cap]
    ip = shutil.which("ip")
    if ip is None:
        raise LiveError("--netns NAME needs ip (iproute2), which is not installed")
    if not os.path.exists(f"/run/netns/{netns}"):
        raise LiveError(f"--netns {netns}: no such network namespace (see `ip netns list`)")
    return [ip, "netns", "exec", netns, *cap]


def start(cmd: list[str]) -> subprocess.Popen[bytes]:
    """Start the capture; its stdout is the pcap stream, its stderr kept for errors."""
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        raise LiveError(f"{cmd[0]}: {e.strerror or e}") from None


def failure(proc: subprocess.Popen[bytes]) -> str | None:
    """Why the capture ended, when it failed: the last line it wrote on stderr."""
    code = proc.poll()
    if code in (None, 0) or proc.stderr is None:
        return None
    lines = [x for x in proc.stderr.read().decode(errors="replace").splitlines() if x.strip()]
    # tcpdump says "tcpdump: eth9: No such device exists" then "(No such device exists)"
    named = [x for x in lines if x.startswith(("tcpdump:", "dumpcap:", "nsenter:"))]
    if named or lines:
        return (named or lines)[-1]
    return f"{proc.args!r} exited with status {code}"
