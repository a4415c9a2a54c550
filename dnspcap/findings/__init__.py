"""Stage 4, findings: the failure signatures in the tables.

A finding (:mod:`.finding`) says what was seen, its evidence, its impact and the fix;
each detector is a module of :mod:`.detectors`, registered with its code, severity and
thresholds (:mod:`.registry`); :func:`detect` (:mod:`.detect`) runs them.
"""

from .detection import detect
from .finding import SEVERITIES, Finding, frame_filter
from .registry import Detector, Option, catalogue, catch_all, detector, render_catalogue

__all__ = [
    "SEVERITIES",
    "Detector",
    "Finding",
    "Option",
    "catalogue",
    "catch_all",
    "detect",
    "detector",
    "frame_filter",
    "render_catalogue",
]
