"""The `dnspcap` command line (:mod:`.commands`) and its progress line (:mod:`.progress`)."""

from .commands import main

__all__ = ["main"]
