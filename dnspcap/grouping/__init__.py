"""Stage 3, grouping: transactions to the lookups resolvers made (:func:`lookups`, in
:mod:`.lookups`; the table of lookups in :mod:`.table`, the names' search-list readings in
:mod:`.names`), and the questions asked again after no answer (:mod:`.retries`)."""

from .join import infer_search_list, lookups
from .reasked import retries

__all__ = ["infer_search_list", "lookups", "retries"]
