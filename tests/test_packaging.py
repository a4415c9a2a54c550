"""What `pip install .` ships: every subpackage, the typed marker, the kernel source."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_packaged() -> None:
    # setuptools finds the packages: every folder of Python modules must be one
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["packages"]["find"]["include"] == ["dnspcap*"]
    folders = {p.parent for p in (ROOT / "dnspcap").rglob("*.py")}
    assert all((f / "__init__.py").exists() for f in folders), folders


def test_the_kernel_is_built_from_every_c_source_and_shipped_in_the_sdist() -> None:
    csrc = ROOT / "dnspcap" / "csrc"
    assert sorted(csrc.rglob("*.c")) and not list((ROOT / "dnspcap").glob("*.c"))
    assert 'CSRC.rglob("*.c")' in (ROOT / "setup.py").read_text()
    assert "recursive-include dnspcap/csrc *.c *.h" in (ROOT / "MANIFEST.in").read_text()


def test_only_native_opens_the_compiled_extension() -> None:
    # one way into the C code: dnspcap/native.py (import-linter sees the extension as
    # the package itself, so this is checked here)
    opening = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "dnspcap").rglob("*.py")
        if "_kernel"
        in "".join(
            line
            for line in p.read_text().splitlines()
            if line.lstrip().startswith(("from", "import"))
        )
    )
    assert opening == ["dnspcap/native.py"]


def test_console_script_points_at_the_cli() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["scripts"] == {"dnspcap": "dnspcap.cli:run"}
