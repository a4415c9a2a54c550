"""What every detector's watch state does, and the lines it prints.

A detector's *state* holds what its finding needs from the final part of each step:
counts over all the traffic (the denominators: pairs, queries, answers) and the rows of
the occurrences themselves (the evidence, the lookups, the values its summary is made
of). ``observe`` takes a step's final rows, ``merge`` adds another state (a step's) to
this one, and ``findings`` makes the finding the batch detector would make of the whole
capture: the same function of the same facts (each detector module exposes the part
of itself that turns facts into a finding). States of one step are merged into the
watch's, so a step's own findings are what the watch prints as it goes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ...findings import Finding
from ..window import Window


@dataclass(frozen=True)
class Event:
    """One line of a watch: a finding confirmed (``key``: printed once per key)."""

    code: str
    severity: str
    time: int  # ns, the capture's clock: when its evidence was complete
    summary: str
    display_filter: str
    key: tuple[object, ...]


class State:
    """The base of the detectors' watch states (see the module docstring)."""

    code = ""
    # its lines come from early() alone (each occurrence once), not from each step's finding
    early_only = False

    def observe(self, w: Window, opts: Mapping[str, float]) -> None:
        raise NotImplementedError

    def merge(self, other: State) -> None:
        raise NotImplementedError

    def findings(self, opts: Mapping[str, float], found: Sequence[Finding]) -> list[Finding]:
        """The findings so far; ``found``: the other detectors' (for the catch-alls)."""
        raise NotImplementedError

    def early(self, w: Window, opts: Mapping[str, float]) -> list[Event]:
        """Occurrences confirmed before their rows are final (the race once its retry
        came): printed at once, each once."""
        return []

    def fresh(self) -> State:
        return type(self)()
