"""The traffic a watch saw, in totals: what the report's headline, overview and clients
table say of the whole capture, without its tables."""

from __future__ import annotations

import pandas as pd

from .window import Window


class Totals:
    def __init__(self) -> None:
        self.messages = 0
        self.transactions = 0
        self.lookups = 0

    def feed(self, chunk: pd.DataFrame) -> None:
        self.messages += len(chunk)

    def observe(self, w: Window) -> None:
        self.transactions += int(w.final.sum())
        self.lookups += int(w.lk_final.sum())
