"""The detector registry: each detector's code, name, severity, thresholds and page.

Each detector is one module in :mod:`dnspcap.findings.detectors` with a stable code
(like a linter's: ``DNS001``), a dotted name, a default severity, named thresholds with
their source, and a docstring that is its documentation page. It is two functions (see
:mod:`dnspcap.findings.scan`): ``scan`` reads a part of the tables, ``judge`` turns the
combined scans of all parts into findings. :func:`detector` registers the scan with its
judge (:func:`catch_all`, one whose judge runs after the others' and sees their
findings), and :func:`render_catalogue` makes ``docs/detectors.md`` of them all.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from .finding import Finding
from .scan import Scan


@dataclass(frozen=True, slots=True)
class Option:
    """A named threshold: its default and where the default comes from."""

    name: str
    default: float
    source: str


Scanner = Callable[[pd.DataFrame, pd.DataFrame, Mapping[str, float]], Scan]
Judge = Callable[[Scan, Mapping[str, float]], list[Finding]]
# a catch-all detector also sees what the others found, to report what they left out
JudgeAfter = Callable[[Scan, Mapping[str, float], Sequence[Finding]], list[Finding]]


@dataclass(frozen=True, slots=True)
class Detector:
    code: str
    name: str
    severity: str
    options: tuple[Option, ...]
    scan: Scanner
    judge: Judge | None
    doc: str
    after: JudgeAfter | None = None  # a catch-all's judge: after the others, with their findings

    def settings(self, options: Mapping[str, float] | None) -> dict[str, float]:
        """Its thresholds: the defaults, with those given."""
        return {o.name: float((options or {}).get(o.name, o.default)) for o in self.options}


REGISTRY: dict[str, Detector] = {}


def detector(
    code: str, name: str, severity: str, options: Iterable[Option] = (), *, judge: Judge
) -> Callable[[Scanner], Scanner]:
    """Register a detector's scan with its judge; its module's docstring is its
    documentation."""

    def wrap(fn: Scanner) -> Scanner:
        _register(Detector(code, name, severity, tuple(options), fn, judge, _doc(fn)))
        return fn

    return wrap


def catch_all(
    code: str, name: str, severity: str, options: Iterable[Option] = (), *, judge: JudgeAfter
) -> Callable[[Scanner], Scanner]:
    """Register a catch-all detector: its judge runs after the others' and gets their
    findings."""

    def wrap(fn: Scanner) -> Scanner:
        _register(Detector(code, name, severity, tuple(options), fn, None, _doc(fn), judge))
        return fn

    return wrap


def _doc(fn: Callable[..., object]) -> str:
    return sys.modules[fn.__module__].__doc__ or ""


def _register(d: Detector) -> None:
    if d.code in REGISTRY:
        raise ValueError(f"detector code {d.code} registered twice")
    REGISTRY[d.code] = d


def catalogue() -> list[Detector]:
    """Every detector, by code (importing :mod:`dnspcap.findings.detectors` registers them)."""
    importlib.import_module("dnspcap.findings.detectors")

    return [REGISTRY[c] for c in sorted(REGISTRY)]


def render_catalogue() -> str:
    """The detector catalogue as Markdown, generated from the detectors' code."""
    lines = [
        "# Detectors",
        "",
        "Generated from `dnspcap/findings/detectors/` by `python scripts/make_docs.py`;"
        " do not edit.",
        "",
        "| code | name | default severity | thresholds |",
        "|---|---|---|---|",
    ]
    for d in catalogue():
        opts = "; ".join(f"`{o.name}` = {o.default:g} ({o.source})" for o in d.options)
        lines.append(f"| {d.code} | `{d.name}` | {d.severity} | {opts or '-'} |")
    for d in catalogue():
        lines += ["", f"## {d.code} `{d.name}`", "", d.doc.strip()]
    return "\n".join(lines) + "\n"
