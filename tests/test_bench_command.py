"""The whole-command benchmark (benchmarks/bench_command.py) runs, on tiny captures.

Not a timed test: it checks the script measures what it says (every format of the
command, the stages, the machine), not how fast anything is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_command.py"


@pytest.mark.slow
def test_bench_command_measures_each_format_and_stage(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--packets", "3000", "--runs", "1", "--skip-tshark",
         "--profiles", "hostile", "--formats", "text,json", "--data", str(tmp_path),
         "--json", str(out)],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(out.read_text())
    assert figures["machine"]["cpus"] >= 1 and figures["machine"]["model"]
    assert len(figures["load_before"]) == len(figures["load_after"]) == 3
    # the package's bytecode is compiled before the runs, as an installed one is
    assert figures["start_up"]["bytecode_compiled"] is True
    # the hostile capture and its ordinary counterpart
    assert [(c["profile"], c["packets"]) for c in figures["captures"]] == [
        ("hostile", 3000),
        ("default", 3000),
    ]
    for capture in figures["captures"]:
        assert capture["truth"]["packets"] == 3000
        commands = {c["format"]: c for c in capture["commands"]}
        assert set(commands) == {"text", "json"}
        for c in commands.values():
            assert c["seconds"] > 0 and c["cpu_seconds"] > 0 and c["peak_rss_mb"] > 20
            # the whole process tree's memory, children and all, sampled from /proc in a
            # run of its own: the timed runs are not slowed by the sampling
            if Path("/proc/self/smaps_rollup").exists():
                assert c["peak_tree_mb"] > 20
                assert c["peak_tree_mb"] == c["tree_run"]["peak_tree_mb"]
            assert all(r["peak_tree_mb"] is None for r in c["runs"])
            assert c["output_bytes"] > 0
            assert c["command"].split()[1:3] == ["analyze", str(tmp_path / capture["capture"])]
        stages = [s["stage"] for s in capture["stages"]["stages"]]
        assert stages == ["read", "pair", "lookups", "detect", "document", "text", "json"]
    hostile = figures["captures"][0]
    assert hostile["truth"]["hostile_packets"] > 1000
    assert "dnspcap --format json" in proc.stdout and "stages in one process" in proc.stdout
