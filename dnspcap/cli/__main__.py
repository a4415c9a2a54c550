"""`python -m dnspcap.cli ...`: the command line, as the `dnspcap` command runs it."""

from .exit import run

run()
