"""`python -m dnspcap ...`: the command line, as the `dnspcap` command runs it."""

from .cli import run

run()
