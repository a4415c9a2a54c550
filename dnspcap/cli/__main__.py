"""`python -m dnspcap.cli ...`: the command line, as the `dnspcap` command runs it."""

import sys

from .commands import main

sys.exit(main())
