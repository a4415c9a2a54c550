"""The report's figures drawn in another process while the detectors run.

Drawing the three figures with matplotlib costs a fixed second or two whatever the
capture's size: a quarter of a 2M-packet Markdown or HTML report. The command line
makes a :class:`Painter` and hands its :meth:`~Painter.start` to ``analyze(plots=...)``:
as soon as the summary's plot data (:class:`.plotdata.Plots`: small tables) is known,
before the detectors run, the process forks. The child, niced, imports matplotlib and
draws each figure in a process of its own, on the processors the analysis leaves idle;
when the report is written, :meth:`~Painter.pngs` reads back each PNG: the bytes
:func:`.formats.figure_pngs` draws here (``tests/test_drawing.py``).

The child touches only the plot data and matplotlib, writes nothing to the streams it
inherited (a lock another thread held at the fork would stop it there), and leaves with
``os._exit``. Where there is no ``fork`` (or not Linux), or the child dies, answers
nonsense or takes longer than ``CHILD_TIMEOUT_S`` (it is killed), the figures are drawn
here, one after the other, as without a painter; a drawing's own error is then raised
here, as it would be without one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..forked import Child, Failed

if TYPE_CHECKING:
    from collections.abc import Callable

    from matplotlib.figure import Figure

    from .document import Document
    from .plotdata import Plots

__all__ = ["Painter"]

# the drawings' niceness: while the analysis runs they take the processors it leaves
# idle, not its own; once it waits for them, they have them all
NICE = 10
CHILD_TIMEOUT_S = 120.0  # three figures take a few seconds; past this, drawn here


class Painter:
    """Draws a report's figures in child processes (see the module's docstring)."""

    def __init__(self) -> None:
        self.child: Child | None = None
        self.answer: dict[str, object] | None = None  # the child's, once waited for

    @property
    def pid(self) -> int:
        """The drawing child's process, while it is not waited for (else 0)."""
        return self.child.pid if self.child is not None else 0

    def start(self, plots: Plots) -> None:
        """Fork the drawing child (:mod:`dnspcap.forked`), once."""
        if self.child is None:
            self.child = Child(lambda: _child(plots), nice=NICE)

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
        if self.child is None or not self.child.pid:
            return None
        got = self.child.result(timeout)
        self.answer = got if isinstance(got, dict) else None
        return self.answer

    def close(self) -> None:
        """End the child, its figures not needed (an analysis that failed)."""
        if self.child is not None:
            self.child.stop()


def _child(plots: Plots) -> dict[str, object]:
    """In the child: every figure drawn, each in a process of its own; {key: PNG bytes},
    or {key: error text} for a drawing that failed."""
    from . import figures

    def drawing(draw: Callable[[Plots], Figure]) -> Callable[[], bytes]:
        return lambda: figures.png(draw(plots))

    kids = {key: Child(drawing(draw)) for key, draw in figures.DRAWN.items()}
    drawn: dict[str, object] = {}
    for key, kid in kids.items():
        got = kid.result()
        if isinstance(got, Failed):
            drawn[key] = got.text
        else:
            drawn[key] = got if got is not None else "the drawing process ended without a figure"
    return drawn
