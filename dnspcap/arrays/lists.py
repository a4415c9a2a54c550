"""Arrow list columns (each row a list of numbers) for pandas tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from .memory import ARROW_POOL


def list_column(
    values: np.ndarray, counts: np.ndarray, typ: pa.DataType
) -> pd.arrays.ArrowExtensionArray:
    """A pyarrow list column: row i holds the next counts[i] values."""
    offsets = np.zeros(len(counts) + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    arr = pa.ListArray.from_arrays(
        pa.array(offsets, memory_pool=ARROW_POOL),
        pa.array(values, type=typ, memory_pool=ARROW_POOL),
        pool=ARROW_POOL,
    )
    return pd.arrays.ArrowExtensionArray(arr)
