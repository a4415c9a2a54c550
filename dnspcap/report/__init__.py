"""Stage 5, the report: what the analysis found, for the terminal, a ticket or a notebook.

The :class:`Report` (:mod:`.result`) holds the three tables and the findings. What a
report says is built once (:mod:`.document`) and written by four writers (:mod:`.text`,
:mod:`.markdown`, :mod:`.html`, and the JSON in :mod:`.render`); the figures are
:mod:`.figures`, the files written :mod:`.files`.
"""

from .formats import FORMATS, SCHEMA, render
from .result import Findings, Report, render_json, render_text

__all__ = ["FORMATS", "SCHEMA", "Findings", "Report", "render", "render_json", "render_text"]
