"""dnspcap: why are DNS lookups in this Kubernetes pod slow or failing?

Reads packet captures taken in a pod's network namespace and decodes every
DNS message into a pandas DataFrame (:func:`read_messages`), pairs queries with
responses into transactions (:func:`pair`) and groups those into the lookups
resolvers made (:func:`lookups`), and runs the detectors of failure
signatures over them (:func:`detect`). :func:`analyze` runs it all and returns a
:class:`Report` that renders itself as text, Markdown, HTML or JSON (:func:`render`),
draws figures, exports its tables and opens a finding's packets.
"""

from __future__ import annotations

from .columns import MESSAGE_COLUMNS
from .errors import CaptureError, DnspcapError, UnknownLinkTypeError
from .findings import Finding, catalogue, detect
from .lookups import infer_search_list, lookups
from .messages import iter_messages, read_messages
from .pairing import pair
from .render import render
from .report import Findings, Report, analyze, render_json, render_text

__version__ = "0.1.0"

__all__ = [
    "MESSAGE_COLUMNS",
    "CaptureError",
    "DnspcapError",
    "Finding",
    "Findings",
    "Report",
    "UnknownLinkTypeError",
    "__version__",
    "analyze",
    "catalogue",
    "detect",
    "infer_search_list",
    "iter_messages",
    "lookups",
    "pair",
    "read_messages",
    "render",
    "render_json",
    "render_text",
]
