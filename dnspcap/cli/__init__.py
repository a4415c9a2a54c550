"""The `dnspcap` command line (:mod:`.main`) and its progress line (:mod:`.progress`)."""

from .commands import main

__all__ = ["main"]
