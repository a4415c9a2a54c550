"""Tables put one after another with their categories united."""

from __future__ import annotations

from typing import Any

import pandas as pd
from pandas.api.types import union_categoricals


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another, categories united (attrs not kept); empty frames
    add nothing (but the columns, when all are empty)."""
    some = [f for f in frames if len(f)] or frames[:1]
    return pd.DataFrame(columns_of(some), copy=False)


def columns_of(frames: list[pd.DataFrame]) -> dict[str, Any]:
    """Each column of the frames, one after another (categoricals: their categories united)."""
    cols: dict[str, Any] = {}
    for name in frames[0].columns:
        parts = [f[name] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            cats = [p.array for p in parts]
            if len({str(c.categories.dtype) for c in cats}) > 1:  # texts read apart: str, object
                cats = [c.set_categories(c.categories.astype(object)) for c in cats]
            cols[name] = union_categoricals(cats)  # type: ignore[arg-type]
        else:
            cols[name] = pd.concat(parts, ignore_index=True).array
    return cols
