"""Stage 4, findings: the failure signatures in the tables.

A finding (:mod:`.finding`) says what was seen, its evidence, its impact and the fix;
each detector is a module of :mod:`.detectors`, registered with its code, severity and
thresholds (:mod:`.registry`); :func:`detect` (:mod:`.detect`) runs them.
"""

from .detection import detect
from .finding import LIST_ITEMS, SEVERITIES, Finding, frame_filter, listed
from .registry import Detector, Option, catalogue, catch_all, detector, render_catalogue

__all__ = [
    "LIST_ITEMS",
    "SEVERITIES",
    "Detector",
    "Finding",
    "Option",
    "catalogue",
    "catch_all",
    "detect",
    "detector",
    "frame_filter",
    "listed",
    "render_catalogue",
]
