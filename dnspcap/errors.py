"""Exceptions raised by dnspcap.

One base class, one subclass per kind of failure; each carries the file it is
about so a command line can print a one-line error naming it.
"""

from __future__ import annotations

from collections.abc import Iterable


class DnspcapError(Exception):
    """Base class of every error dnspcap raises on purpose."""


class CaptureError(DnspcapError):
    """A capture file cannot be read at all.

    Raised only for the whole file (bad magic, unreadable header, an
    interface with a link type we cannot decode). A bad *packet* inside a
    good file never raises: it becomes a counted decode error.
    """

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason

    def __reduce__(self) -> tuple[type[CaptureError], tuple[object, ...]]:
        # a worker of a cluster run raises it, the client re-raises it: it must pickle
        return CaptureError, (self.file, self.reason)


class UnknownLinkTypeError(CaptureError):
    """The capture (or one of its pcapng interfaces) uses a link type dnspcap cannot decode."""

    def __init__(self, file: str, linktype: int, supported: Iterable[int]) -> None:
        supported = tuple(supported)
        name = LINKTYPE_NAMES.get(linktype, "unassigned")
        known = ", ".join(f"{LINKTYPE_NAMES.get(t, '?')} ({t})" for t in sorted(supported))
        super().__init__(
            file, f"link type {linktype} ({name}) is not supported; supported: {known}"
        )
        self.linktype = linktype
        self.supported = supported

    def __reduce__(self) -> tuple[type[CaptureError], tuple[object, ...]]:
        return UnknownLinkTypeError, (self.file, self.linktype, self.supported)


# Names from https://www.tcpdump.org/linktypes.html, for error messages only.
LINKTYPE_NAMES: dict[int, str] = {
    0: "NULL",
    1: "EN10MB",
    10: "FDDI",
    12: "RAW",
    14: "RAW",
    101: "RAW",
    105: "IEEE802_11",
    108: "LOOP",
    113: "LINUX_SLL",
    127: "IEEE802_11_RADIOTAP",
    129: "ARCNET_LINUX",
    147: "USER0",
    148: "USER1",
    149: "USER2",
    228: "IPV4",
    229: "IPV6",
    239: "NFLOG",
    258: "PKTAP",
    276: "LINUX_SLL2",
}
