"""DNS010's percentiles are computed from the counted answer times without repeating
each (dnspcap/findings/detectors/latency.py): they must be pandas' groupby quantile of
the repeated answers to the bit, since the report prints them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dnspcap.arrays.frames import counted, expanded
from dnspcap.findings.detectors.latency import percentiles


def by_pandas(rtt: pd.DataFrame, outlier: float) -> pd.DataFrame:
    ok = expanded(rtt)
    by = ok.groupby("server", observed=True, sort=True)["rtt_last"]
    over = (ok["rtt_last"] > outlier).groupby(ok["server"], observed=True)
    return pd.DataFrame(
        {"answers": by.size(), "p50": by.quantile(0.5), "p99": by.quantile(0.99),
         "slow": over.sum()}
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_percentiles_are_pandas_quantiles_of_the_answers(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 2000))
    names = ["10.96.0.10", "10.244.1.3", "fd00:10:96::a", "169.254.20.10"]
    servers = pd.Categorical(
        rng.choice(names[: int(rng.integers(1, 5))], n), categories=[*names[::-1], "unused"]
    )
    # times rounded to a few digits: many repeat, as microsecond times of a busy server do
    times = np.round(rng.exponential(0.005, n) + rng.random(n) * (rng.random(n) < 0.02), 4)
    rtt = counted(pd.DataFrame({"server": servers, "rtt_last": times}))
    if seed % 3 == 0:
        rtt = rtt.drop(columns="n")  # a table not counted: each row once
    pd.testing.assert_frame_equal(percentiles(rtt, 0.5), by_pandas(rtt, 0.5), check_exact=True)


def test_one_answer_and_none() -> None:
    one = counted(pd.DataFrame({"server": pd.Categorical(["10.96.0.10"]), "rtt_last": [0.25]}))
    pd.testing.assert_frame_equal(percentiles(one, 0.1), by_pandas(one, 0.1), check_exact=True)
    assert percentiles(one.iloc[:0], 0.1).empty
