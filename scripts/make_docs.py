"""Write the generated pages of docs/: the columns of the three tables (from
dnspcap/columns.py) and the detector catalogue (from the detectors' code). The tests check
both are current; run this after changing either."""

from pathlib import Path

from dnspcap.columns import render_markdown
from dnspcap.findings import render_catalogue

DOCS = Path(__file__).resolve().parent.parent / "docs"

(DOCS / "columns.md").write_text(render_markdown())
(DOCS / "detectors.md").write_text(render_catalogue())
