"""`python -m dnspcap ...`: the command line, as the `dnspcap` command runs it."""

import sys

from .cli import main

sys.exit(main())
