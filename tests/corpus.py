"""Where the public capture corpus is, what it holds, and how tests ask for it.

The corpus (246 captures from eight projects' test suites, see its README.md) lives
outside the project, in ``../shared/corpus`` next to the project root, or wherever the
environment variable ``DNSPCAP_CORPUS`` points. It is never copied into the project.

When it is missing, corpus tests are skipped - except on CI (``CI=true``), where a
missing corpus is a failure: a green CI run that silently tested nothing is worse than a
red one.
"""

from __future__ import annotations

import csv
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORPUS_ENV = "DNSPCAP_CORPUS"
MANIFEST_NAME = "MANIFEST.tsv"
#: Column of MANIFEST.tsv with tshark's DNS count over the whole file (all ports, mDNS,
#: LLMNR, tunnels, ICMP-quoted). It counts *frames* that contain DNS, not messages.
MANIFEST_COUNT = "dns_msgs(tshark)"


def on_ci() -> bool:
    """True when running on CI (``CI=true``, as GitHub Actions, GitLab and others set it)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def corpus_dir() -> Path | None:
    """The corpus folder (``$DNSPCAP_CORPUS`` or ``<project>/../shared/corpus``), or None.

    None when the folder or its MANIFEST.tsv does not exist. A set but wrong
    ``DNSPCAP_CORPUS`` is not silently replaced by the default.
    """
    env = os.environ.get(CORPUS_ENV)
    path = Path(env) if env else PROJECT_ROOT.parent / "shared" / "corpus"
    return path if (path / MANIFEST_NAME).is_file() else None


def _missing_reason() -> str:
    env = os.environ.get(CORPUS_ENV)
    where = f"{CORPUS_ENV}={env}" if env else str(PROJECT_ROOT.parent / "shared" / "corpus")
    return f"capture corpus not found ({where} has no {MANIFEST_NAME})"


def require_corpus() -> Path:
    """The corpus folder; skips the calling test when absent, or fails it under ``CI=true``."""
    path = corpus_dir()
    if path is None:
        if on_ci():
            pytest.fail(_missing_reason() + "; CI=true, so this is an error", pytrace=False)
        pytest.skip(_missing_reason())
    return path


@cache
def _manifest(path: Path) -> tuple[dict[str, str], ...]:
    with (path / MANIFEST_NAME).open(newline="", encoding="utf-8") as f:
        # One row's dns_features is CSV-quoted (it quotes a tshark warning that has
        # double quotes in it), so read with the csv module's default quoting.
        return tuple(csv.DictReader(f, delimiter="\t"))


def manifest() -> list[dict[str, str]]:
    """The rows of MANIFEST.tsv (one per capture) as dicts keyed by its header.

    Raises the skip/fail of :func:`require_corpus` when the corpus is absent.
    """
    return [dict(r) for r in _manifest(require_corpus())]


def manifest_by_path() -> dict[str, dict[str, str]]:
    """MANIFEST.tsv rows keyed by their ``path`` (relative to the corpus folder)."""
    return {r["path"]: r for r in manifest()}


def capture_path(rel: str) -> Path:
    """Absolute path of a corpus capture given relative to the corpus folder."""
    return require_corpus() / rel


def corpus_captures() -> list[Any]:
    """Parametrisation list of every corpus capture, for ``@pytest.mark.parametrize``.

    Each entry is ``pytest.param(<absolute Path>, id=<path relative to the corpus>,
    marks=pytest.mark.corpus)``, in MANIFEST.tsv order. Read at collection time: when
    the corpus is absent the list holds one placeholder marked ``skip``, and under
    ``CI=true`` this raises instead, so the run fails at collection, loudly.
    """
    path = corpus_dir()
    if path is None:
        if on_ci():
            raise RuntimeError(_missing_reason() + "; CI=true, so this is an error")
        return [
            pytest.param(
                None,
                id="corpus-missing",
                marks=[pytest.mark.corpus, pytest.mark.skip(reason=_missing_reason())],
            )
        ]
    return [
        pytest.param(path / r["path"], id=r["path"], marks=pytest.mark.corpus)
        for r in _manifest(path)
    ]


def relpath(capture: Path) -> str:
    """A capture's path relative to the corpus folder (the key of MANIFEST.tsv)."""
    return capture.relative_to(require_corpus()).as_posix()
