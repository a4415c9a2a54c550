"""The `dnspcap` command line (:mod:`.commands`), its progress line (:mod:`.progress`) and
its exit (:mod:`.exit`)."""

from .commands import main
from .exit import run

__all__ = ["main", "run"]
