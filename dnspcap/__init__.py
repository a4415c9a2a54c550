"""dnspcap: why are DNS lookups in this Kubernetes pod slow or failing?

Reads packet captures taken in a pod's network namespace and decodes every DNS message
into a pandas DataFrame (:func:`read_messages`), pairs queries with responses into
transactions (:func:`pair`), groups those into the lookups resolvers made
(:func:`lookups`), and runs the detectors of failure signatures over them
(:func:`detect`). :func:`analyze` runs it all and returns a :class:`Report` that renders
itself as text, Markdown, HTML or JSON (:func:`render`), draws figures, exports its
tables and opens a finding's packets.

The stages are packages in that order: :mod:`dnspcap.reading`, :mod:`dnspcap.pairing`,
:mod:`dnspcap.grouping`, :mod:`dnspcap.findings`, :mod:`dnspcap.report`; each imports only
the ones before it (docs/architecture.md).
"""

from .columns import MESSAGE_COLUMNS
from .errors import CaptureError, DnspcapError, UnknownLinkTypeError
from .findings import Finding, catalogue, detect
from .fleet import analyze
from .grouping import infer_search_list, lookups
from .pairing import pair
from .reading import iter_messages, read_messages
from .report import Findings, Report, render, render_json, render_text
from .version import __version__

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


def __dir__() -> list[str]:
    """The public API only: the stage packages stay importable, out of tab completion."""
    return sorted(__all__)
