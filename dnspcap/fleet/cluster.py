"""Reaching a Dask cluster: ``--scheduler ADDRESS`` or ``local:N`` (N local workers)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import DnspcapError

MISSING = "running on a Dask cluster needs Dask: pip install 'dnspcap[dask]'"


def distributed() -> Any:
    """The ``distributed`` module, or a one-line error saying how to install it."""
    try:
        import distributed as d
    except ImportError:
        raise DnspcapError(MISSING) from None
    return d


@contextlib.contextmanager
def connect(scheduler: str, memory_limit: str | None = None) -> Iterator[Any]:
    """A Dask client of the scheduler at ``scheduler`` (``tcp://host:8786``), or of a local
    cluster of N single-threaded worker processes for ``local:N`` (closed on exit).
    ``memory_limit``: each local worker's (``"2GB"``; default: Dask's share of RAM)."""
    d = distributed()
    if scheduler.startswith("local:"):
        count = scheduler.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise DnspcapError(f"--scheduler {scheduler}: local:N needs a number of workers")
        extra = {} if memory_limit is None else {"memory_limit": memory_limit}
        with (
            d.LocalCluster(
                n_workers=int(count), threads_per_worker=1, processes=True,
                dashboard_address=":0", **extra,
            ) as cluster,
            d.Client(cluster) as client,
        ):  # fmt: skip
            yield client
        return
    try:
        client = d.Client(scheduler, timeout="10s")
    except (OSError, TimeoutError, ValueError) as e:
        raise DnspcapError(f"--scheduler {scheduler}: cannot reach it ({e})") from None
    with client:
        yield client


def dashboard(client: Any) -> str:
    """Where the cluster's dashboard is (empty when it has none)."""
    return str(getattr(client, "dashboard_link", "") or "")
