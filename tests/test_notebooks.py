"""The notebooks in `notebooks/` run top to bottom (nbclient), so they never rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def outputs(nb: nbformat.NotebookNode) -> str:
    """Everything the cells showed, as text and HTML."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/html", "")]
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()  # fmt: skip
    shown = outputs(nb)
    assert "Traceback" not in shown
    if path.name == "investigate-incident.ipynb":
        assert 'class="dnspcap-report"' in shown  # the report displayed itself
        assert "DNS001" in shown and "10.244.1.17" in shown
        figures = sum(
            "image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])
        )
        assert figures == 3
        assert "frame  77" in shown  # the resent AAAA query, opened with scapy
        # and dissected by Wireshark (tshark through pyshark) inside the kernel's event loop
        assert "&lt;dnspcap.Dissection 10 packets from 1 file&gt;" in shown
        assert "incident-mixed.pcap frame 77: ETH / IP / UDP / DNS</summary>" in shown
        assert "Transaction ID: 0x9a0d" in shown and "('42001', '0x9a0d'" in shown
        assert "ticket-timeline.png" in shown


def test_notebooks_are_committed_without_outputs() -> None:
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name
