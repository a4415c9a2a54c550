"""Synthetic captures for the tests: ``benchmarks/make_capture.py`` (not a package of the
project), imported from its folder once."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@cache
def _module() -> Any:
    sys.path.insert(0, str(BENCHMARKS))  # make_capture imports its sibling hostile.py
    try:
        return importlib.import_module("make_capture")
    finally:
        sys.path.pop(0)


def make_capture(path: str | Path, packets: int, seed: int, **options: Any) -> dict[str, Any]:
    """``make_capture.make_capture``: write the capture, return its ground truth."""
    truth: dict[str, Any] = _module().make_capture(path, packets, seed, **options)
    return truth
