"""dnspcap: why are DNS lookups in this Kubernetes pod slow or failing?

Reads packet captures taken in a pod's network namespace and decodes every
DNS message into a pandas DataFrame (:func:`read_messages`), the first stage of
the analysis pipeline.
"""

from __future__ import annotations

from .columns import MESSAGE_COLUMNS
from .errors import CaptureError, DnspcapError, UnknownLinkTypeError
from .messages import iter_messages, read_messages

__version__ = "0.1.0"

__all__ = [
    "MESSAGE_COLUMNS",
    "CaptureError",
    "DnspcapError",
    "UnknownLinkTypeError",
    "__version__",
    "iter_messages",
    "read_messages",
]
