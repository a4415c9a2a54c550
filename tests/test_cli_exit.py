"""The command's exit skips the interpreter's teardown (dnspcap/cli/exit.py) but not what
an exit must do: the exit status, the atexit handlers (a Dask cluster's, logging's),
buffered output, and the threads that are not daemons."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dnspcap
from dnspcap.report import render

ROOT = Path(__file__).resolve().parent.parent


def program(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
        check=False,
    )  # fmt: skip


def test_the_exit_keeps_the_status_the_handlers_and_the_buffered_output() -> None:
    done = program(
        "import atexit, sys\n"
        "from dnspcap.cli.exit import leave\n"
        "atexit.register(lambda: print('handler ran'))\n"
        "sys.stdout.write('buffered, ')\n"
        "sys.stderr.write('said')\n"
        "leave(3)\n"
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "buffered, handler ran\n", "said")


def test_the_exit_waits_for_a_thread_that_is_not_a_daemon() -> None:
    done = program(
        "import threading, time\n"
        "from dnspcap.cli.exit import leave\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n"
        "leave(2)\n"
    )
    assert (done.returncode, done.stdout) == (2, "thread done\n")


def test_the_command_writes_its_report_and_says_its_status(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    sample = ROOT / "samples" / "crafted" / "incident-mixed.pcap"
    done = subprocess.run(
        [sys.executable, "-m", "dnspcap", "analyze", str(sample), "--format", "json", "-o",
         str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # an error-level finding
    assert out.read_text() == render(dnspcap.analyze(sample), "json")


# A stage run by the command line's run() (which leaves with its status), or as a
# notebook's process runs it; the variables that choose the settings run() makes are
# left out of its environment unless a test gives them.
STAGE = """
import numpy as np
import pyarrow as pa
from dnspcap.arrays import memory
from dnspcap.cli import exit
def stage():
{body}
    return 0
if {command}:
    exit.main = stage
    exit.run()
stage()
"""
CHOOSERS = ("ARROW_DEFAULT_MEMORY_POOL", "NUMPY_MADVISE_HUGEPAGE")


def stage(body: str, command: bool, **env: str) -> str:
    """What the stage printed, run as the command or as a notebook would."""
    base = {k: v for k, v in os.environ.items() if k not in CHOOSERS}
    done = subprocess.run(
        [sys.executable, "-c", STAGE.format(body=body, command=command)], capture_output=True,
        text=True, timeout=60, cwd=ROOT, check=False, env={**base, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def plain(code: str) -> str:
    """What a Python without dnspcap prints."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
        check=False, env={k: v for k, v in os.environ.items() if k not in CHOOSERS},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


FREED = """
    def resident():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 >> 20
    before = resident()
    a = np.ones(16 << 20, np.uint8)  # 16 MiB, touched
    del a
    freed = resident() - before
    memory.give_back()
    print(freed, resident() - before)"""


def test_the_command_keeps_what_a_stage_frees_until_it_is_given_back() -> None:
    """The command line's process (run(): keep_freed_pages) keeps a freed 16 MiB array's
    pages for the next stage, until give_back(); by default glibc unmaps it at once (a
    notebook's process keeps glibc's defaults)."""
    kept_mb, after_mb = (int(x) for x in stage(FREED, command=True).split())
    default_mb, _ = (int(x) for x in stage(FREED, command=False).split())
    assert kept_mb >= 15 and after_mb <= 2
    assert default_mb <= 2


POOL = "    print(pa.default_memory_pool().backend_name)"


def test_the_command_makes_pandas_arrow_arrays_on_the_c_heap() -> None:
    """In the command line's process pandas' arrow arrays (every column of texts) come
    from the C heap, given back with the rest, not from mimalloc (60-100 ms for a take
    after its pages were released); a notebook's process keeps pyarrow's default, and so
    does a command told otherwise by ARROW_DEFAULT_MEMORY_POOL."""
    import pyarrow as pa

    assert stage(POOL, command=True) == pa.system_memory_pool().backend_name
    assert stage(POOL, command=False) == plain(  # pyarrow's own default (mimalloc here)
        "import pyarrow as pa; print(pa.default_memory_pool().backend_name)"
    )
    assert stage(POOL, command=True, ARROW_DEFAULT_MEMORY_POOL="mimalloc") == "mimalloc"


HUGE = """
    core = getattr(np, "_core", None) or np.core
    print(core.multiarray._get_madvise_hugepage())"""


def test_the_command_asks_for_no_huge_pages_for_numpy_arrays() -> None:
    """In the command line's process numpy advises no transparent huge pages for its big
    arrays (on the development VM the faults that compact memory for them cost 15% of
    the command); a notebook's process keeps numpy's default, and a command told by
    NUMPY_MADVISE_HUGEPAGE keeps what it was told."""
    assert stage(HUGE, command=True) == "False"
    numpy_own = plain(
        "import numpy as np; "
        "print((getattr(np, '_core', None) or np.core).multiarray._get_madvise_hugepage())"
    )
    assert stage(HUGE, command=False) == numpy_own  # whatever this system's
    assert stage(HUGE, command=True, NUMPY_MADVISE_HUGEPAGE="1") == "True"
