"""The report's figures drawn in another process while the detectors run.

Drawing the three figures with matplotlib costs a fixed second or two whatever the
capture's size: a quarter of a 2M-packet Markdown or HTML report. The command line
makes a :class:`Painter` before it reads anything, and the process forks at once
(:mod:`dnspcap.forked`), while it is small: the child, niced, imports matplotlib while
the analysis reads, then waits for the plot data. The command hands
:meth:`~Painter.start` to ``analyze(plots=...)``: as soon as the summary's plot data
(:class:`.plotdata.Plots`: small tables) is known, before the detectors run, it goes
down a pipe to the child, which draws each figure in a process of its own, on the
processors the analysis leaves idle; when the report is written, :meth:`~Painter.pngs`
reads back each PNG: the bytes :func:`.formats.figure_pngs` draws here
(``tests/test_drawing.py``).

Forked before the analysis, the child shares none of its tables: forked later (as it
was), it kept alive whatever the analysis let go meanwhile, 0.7 GB at 10M packets. The
child touches only the plot data and matplotlib, writes nothing to the streams it
inherited (a lock another thread held at the fork would stop it there), and leaves with
``os._exit``. Where there is no ``fork`` (or not Linux), or the child dies, answers
nonsense or takes longer than ``CHILD_TIMEOUT_S`` (it is killed), the figures are drawn
here, one after the other, as without a painter; a drawing's own error is then raised
here, as it would be without one.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from typing import TYPE_CHECKING

from ..forked import Child, Failed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from matplotlib.figure import Figure

    from .document import Document
    from .plotdata import Plots

__all__ = ["Painter"]

# the drawings' niceness: while the analysis runs they take the processors it leaves
# idle, not its own; once it waits for them, they have them all
NICE = 10
CHILD_TIMEOUT_S = 120.0  # three figures take a few seconds; past this, drawn here
# from this many transactions the figures are drawn one after another, not side by side:
# the analysis is at its largest then and busy on every processor, and each drawing's
# process holds tens of MB. A 10M capture's HTML report: the whole process tree peaked
# at 1,329-1,391 MiB (median about 1,334) instead of 1,347-1,420 (about 1,373; the file:
# 1,313 MiB), in the same time; at 2M and 300k side by side stays 1.08x and 1.15x faster,
# its memory far from the file's
ONE_AT_A_TIME_FROM = 2_000_000


class Painter:
    """Draws a report's figures in child processes (see the module's docstring)."""

    def __init__(self) -> None:
        self.answer: dict[str, object] | None = None  # the child's, once waited for
        self._send: int | None = None  # the pipe the plot data goes down
        r, w = os.pipe()
        self.child: Child | None = Child(lambda: _serve(r, w), nice=NICE)
        os.close(r)
        if self.child.pid:
            self._send = w
        else:  # no fork here: drawn in process
            os.close(w)
            self.child = None

    @property
    def pid(self) -> int:
        """The drawing child's process, while it is not waited for (else 0)."""
        return self.child.pid if self.child is not None else 0

    def start(self, plots: Plots) -> None:
        """Hand the plot data to the drawing child, once."""
        if self._send is None:
            return
        fd, self._send = self._send, None
        with contextlib.suppress(OSError), os.fdopen(fd, "wb") as f:  # gone: drawn here
            pickle.dump(plots, f, protocol=pickle.HIGHEST_PROTOCOL)

    def pngs(self, doc: Document) -> dict[str, bytes]:
        """Each figure of the document as PNG bytes: the child's, or drawn here when
        there is none or it failed."""
        keys = [spec.key for spec in doc.figures]
        drawn = self._wait()
        if keys and (drawn is None or not all(isinstance(drawn.get(k), bytes) for k in keys)):
            from .formats import figure_pngs

            return figure_pngs(doc)
        return {key: drawn[key] for key in keys}  # type: ignore[index,misc]

    def _wait(self, timeout: float = CHILD_TIMEOUT_S) -> dict[str, object] | None:
        self._hang_up()  # no plot data by now: none is coming
        if self.child is None or not self.child.pid:
            return None
        got = self.child.result(timeout)
        self.answer = got if isinstance(got, dict) else None
        return self.answer

    def close(self) -> None:
        """End the child, its figures not needed (an analysis that failed)."""
        self._hang_up()
        if self.child is not None:
            self.child.stop()

    def _hang_up(self) -> None:
        if self._send is not None:
            os.close(self._send)
            self._send = None


def _serve(r: int, w: int) -> dict[str, object] | None:
    """In the child, forked while the command is small: import matplotlib while the
    analysis reads, wait for the plot data, draw (None: no data came)."""
    os.close(w)
    from . import figures  # noqa: F401 - imported now, while the analysis reads

    with os.fdopen(r, "rb") as f:
        try:
            plots = pickle.load(f)
        except (EOFError, OSError, pickle.PickleError):
            return None
    return _child(plots)


def _child(plots: Plots) -> dict[str, object]:
    """In the child: every figure drawn, each in a process of its own, side by side (one
    after another from ``ONE_AT_A_TIME_FROM`` transactions); {key: PNG bytes}, or {key:
    error text} for a drawing that failed."""
    from . import figures

    def drawing(draw: Callable[[Plots], Figure]) -> Callable[[], bytes]:
        return lambda: figures.png(draw(plots))

    kids: Iterable[tuple[str, Child]] = (
        (key, Child(drawing(draw))) for key, draw in figures.DRAWN.items()
    )  # each forked when the one before is done
    if plots.transactions < ONE_AT_A_TIME_FROM:
        kids = list(kids)  # all forked at once
    drawn: dict[str, object] = {}
    for key, kid in kids:
        got = kid.result()
        if isinstance(got, Failed):
            drawn[key] = got.text
        else:
            drawn[key] = got if got is not None else "the drawing process ended without a figure"
    return drawn
