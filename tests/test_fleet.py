"""A cluster run (dnspcap.fleet) gives the in-process answer.

Each capture set is read on a worker of a real ``distributed.LocalCluster``; the messages
table, the transactions, lookups and findings, and the rendered reports must be those of
``dnspcap.analyze`` in one process, on the samples (crafted, lab, and the three vantage
points of one lab run, whose copies are linked across vantage points) and on a synthetic
set of many node captures. Without Dask nothing changes: no Dask import on the default
path, and the command line says in one line what to install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dnspcap

from . import rotate
from .corpus import on_ci
from .synthetic import make_capture

ROOT = Path(__file__).resolve().parents[1]
CRAFTED = sorted((ROOT / "samples" / "crafted").glob("*.pcap"))
LAB = ROOT / "samples" / "lab" / "captures"
VANTAGE = sorted((LAB / "vantage").glob("race-glibc-*.pcap"))

try:
    import dask
    import distributed
except ImportError:  # the dask extra: a failure on CI, where the test extra installs it
    if on_ci():
        raise
    pytest.skip("needs dask[distributed] (pip install 'dnspcap[dask]')", allow_module_level=True)


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        yield c


def same_tables(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal row for row and column for column (categories compared by their values)."""
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for col in a.columns:
        x, y = a[col].reset_index(drop=True), b[col].reset_index(drop=True)
        if isinstance(x.dtype, pd.CategoricalDtype):
            x, y = x.astype(object), y.astype(object)
        pd.testing.assert_series_equal(x, y, check_dtype=False, obj=col)


def same_reports(here: dnspcap.Report, there: dnspcap.Report) -> None:
    same_tables(here.messages, there.messages)
    same_tables(here.transactions, there.transactions)
    same_tables(here.lookups, there.lookups)
    assert here.stats == there.stats
    # vantage order and clock offsets (NaN where unknown: compared as text)
    assert json.dumps(there.transactions.attrs) == json.dumps(here.transactions.attrs)
    assert [f.as_dict() for f in here.findings] == [f.as_dict() for f in there.findings]
    assert there.render("json") == here.render("json")
    assert there.render("text") == here.render("text")


def test_the_samples_read_on_a_cluster_give_the_in_process_report(client: Any) -> None:
    # crafted captures, lab captures and three vantage points of one lab run, all at once:
    # every file is a capture set of its own, the vantage points' copies are linked
    files = [*CRAFTED, *sorted(LAB.glob("race-*.pcap")), *VANTAGE]
    here = dnspcap.analyze(files)
    there = dnspcap.analyze(files, client=client)
    assert (there.transactions["copy_of"] >= 0).any()  # copies across vantage points
    assert len(there.findings) > 0
    same_reports(here, there)


def test_one_sample_on_a_cluster_is_the_sample(client: Any) -> None:
    here = dnspcap.analyze(CRAFTED[0])
    same_reports(here, dnspcap.analyze(CRAFTED[0], client=client))


def test_a_rotated_set_is_read_as_one_recording_on_a_worker(tmp_path: Path, client: Any) -> None:
    sample = ROOT / "samples" / "crafted" / "conntrack-race-glibc.pcap"
    n = rotate.packet_count(sample)
    parts = rotate.split(sample, [n // 3, 2 * n // 3], tmp_path)
    here = dnspcap.analyze(parts)
    there = dnspcap.analyze(parts, client=client)
    assert [v["how"] for v in there.stats["vantages"]] == [v["how"] for v in here.stats["vantages"]]
    assert len(there.stats["vantages"]) == 1
    same_reports(here, there)


def test_a_guessed_rotated_set_that_overlaps_in_time_is_split_as_in_process(
    tmp_path: Path, client: Any
) -> None:
    # two copies of one capture named like a rotated set: they overlap, so two recordings
    data = (ROOT / "samples" / "crafted" / "node-race.pcap").read_bytes()
    files = [tmp_path / "node.pcap0", tmp_path / "node.pcap1"]
    for f in files:
        f.write_bytes(data)
    here = dnspcap.analyze(files)
    assert len(here.stats["vantages"]) == 2
    same_reports(here, dnspcap.analyze(files, client=client))


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Eight synthetic node captures of a busy cluster."""
    folder = tmp_path_factory.mktemp("nodes")
    out = []
    for k in range(8):
        path = folder / f"node-{k:02d}.pcap"
        make_capture(path, 4000 + 500 * k, seed=k + 1, clients=200)
        out.append(path)
    return out


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One node's capture of 60,000 packets (8 MB; its messages take some 25 MB)."""
    path = tmp_path_factory.mktemp("big") / "big-node.pcap"
    make_capture(path, 60_000, seed=3, clients=500)
    return path


def test_a_capture_split_by_client_gives_the_in_process_report(big: Path, client: Any) -> None:
    # four partitions by client address, each read by its own task, put back in order
    tasks: list[int] = []
    here = dnspcap.analyze(big)
    there = dnspcap.analyze(
        big, client=client, split_bytes=big.stat().st_size // 4 + 1,
        sets_done=lambda done, total, nbytes: tasks.append(total),
    )  # fmt: skip
    assert set(tasks) == {4}
    assert len(here.findings) > 0
    same_reports(here, there)


@pytest.mark.slow
def test_a_capture_bigger_than_a_workers_memory_limit_is_split_by_client(
    big: Path, tmp_path: Path
) -> None:
    # workers whose memory limit is below what the capture's messages take: the split
    # follows from the limit (Dask's own memory management off, so the limit is only a
    # number here and no worker is paused or restarted)
    off = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause")}
    off["distributed.worker.memory.terminate"] = False
    tasks: list[int] = []
    with (
        dask.config.set(off),
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, memory_limit="10MB", dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        there = dnspcap.analyze(
            big, client=c, sets_done=lambda done, total, nbytes: tasks.append(total)
        )
        same_reports(dnspcap.analyze(big), there)  # its tables are gathered from the workers
        lazy = dnspcap.analyze(CRAFTED[0], client=c)
    assert set(tasks) == {-(-big.stat().st_size // (10_000_000 // 3))}
    print(lazy)  # the report is whole without its cluster: its tables are not
    with pytest.raises(dnspcap.DnspcapError, match=r"the cluster .* is closed"):
        lazy.transactions  # noqa: B018


def test_many_node_captures_on_a_cluster_give_the_in_process_findings(
    nodes: list[Path], client: Any
) -> None:
    here = dnspcap.analyze(nodes)
    there = dnspcap.analyze(nodes, client=client)
    # named like a rotated set, overlapping in time: eight recordings, as in process
    assert len(there.stats["vantages"]) == len(nodes)
    assert there.stats["packets"] == sum(4000 + 500 * k for k in range(8))
    assert len(here.findings) > 0
    same_reports(here, there)


def test_a_file_a_worker_cannot_read_is_the_in_process_error(tmp_path: Path, client: Any) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all, not even close")
    with pytest.raises(dnspcap.CaptureError) as here:
        dnspcap.analyze([CRAFTED[0], bad])
    with pytest.raises(dnspcap.CaptureError) as there:
        dnspcap.analyze([CRAFTED[0], bad], client=client)
    assert str(there.value) == str(here.value)
    assert there.value.file == str(bad)


def test_an_open_stream_is_refused_on_a_cluster(client: Any) -> None:
    with open(CRAFTED[0], "rb") as f, pytest.raises(dnspcap.DnspcapError, match="by path"):
        dnspcap.analyze(f, client=client)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from dnspcap.cli import main; sys.exit(main())",
         *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_the_command_on_a_local_cluster_writes_the_in_process_report() -> None:
    files = [str(p) for p in VANTAGE]
    here = run("analyze", "--format", "json", *files)
    there = run("analyze", "--scheduler", "local:2", "--format", "json", *files)
    assert there.returncode == here.returncode, there.stderr
    assert json.loads(there.stdout) == json.loads(here.stdout)


def test_without_dask_the_default_path_imports_none_and_the_cli_says_what_to_install(
    tmp_path: Path,
) -> None:
    # a `distributed` that cannot be imported, as when the extra is not installed
    (tmp_path / "distributed.py").write_text("raise ImportError('no distributed here')\n")
    env = {"PYTHONPATH": str(tmp_path)}
    code = (
        "import sys, dnspcap; r = dnspcap.analyze(sys.argv[1]);"
        "print(len(r.findings), any(m.split('.')[0] in ('dask', 'distributed') "
        "for m in sys.modules))"
    )
    plain = subprocess.run(
        [sys.executable, "-c", code, str(CRAFTED[0])], capture_output=True, text=True,
        env={**os.environ, **env}, timeout=120,
    )  # fmt: skip
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.split()[1] == "False"
    cli = run("analyze", "--scheduler", "local:2", str(CRAFTED[0]), env=env)
    assert cli.returncode == 2
    assert cli.stderr.strip().splitlines() == [
        "dnspcap: error: running on a Dask cluster needs Dask: pip install 'dnspcap[dask]'"
    ]


def test_export_on_a_cluster_writes_a_dataset_by_capture_set_and_hour(tmp_path: Path) -> None:
    import dask.dataframe as dd

    files = [str(p) for p in VANTAGE]
    out = run("export", "--scheduler", "local:2", "--to", "parquet", "-o", str(tmp_path), *files)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        str(tmp_path / t) for t in ("messages", "transactions", "lookups")
    ]
    here = dnspcap.analyze(files)
    for name, table in here.tables().items():
        sets = {p.name for p in (tmp_path / name).iterdir()}
        if name != "lookups":  # a lookup is filed under its first transaction's set
            assert sets == {f"capture_set={v}" for v in table["vantage"].astype(str)}
        back = pd.read_parquet(tmp_path / name)
        lazy = dd.read_parquet(str(tmp_path / name)).compute()
        assert len(back) == len(lazy) == len(table)
        assert set(back.columns) == {*table.columns, "capture_set", "hour"}
        key = ["file", "frame"] if name == "messages" else list(table.columns[:12])
        if name == "lookups":
            key = ["client", "start", "name"]
        got = back.sort_values(key, kind="stable").reset_index(drop=True)[key].astype(str)
        want = table.sort_values(key, kind="stable").reset_index(drop=True)[key].astype(str)
        pd.testing.assert_frame_equal(got, want)
    hours = {p.name for p in (tmp_path / "messages").glob("*/*")}
    start = here.messages["ts"].min().strftime("%Y-%m-%dT%H")
    assert f"hour={start}" in hours


def test_a_capture_named_by_url_is_read_through_fsspec() -> None:
    import fsspec

    sample = ROOT / "samples" / "crafted" / "node-race.pcap"
    with fsspec.open("memory://fleet/node-race.pcap", "wb") as f:
        f.write(sample.read_bytes())
    here = dnspcap.read_messages(sample)
    there = dnspcap.read_messages("memory://fleet/node-race.pcap")
    same_tables(here.drop(columns="file"), there.drop(columns="file"))
    assert set(there["file"].astype(str)) == {"memory://fleet/node-race.pcap"}
    with pytest.raises(dnspcap.CaptureError) as missing:
        dnspcap.read_messages("memory://fleet/gone.pcap")
    assert str(missing.value) == "memory://fleet/gone.pcap: No such file or directory"
