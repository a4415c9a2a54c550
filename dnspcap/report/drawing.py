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

import contextlib
import os
import pickle
import signal
import sys
import threading
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
        self.pid = 0  # the drawing child, once started
        self.answer: dict[str, object] | None = None
        self.reading: threading.Thread | None = None

    def start(self, plots: Plots) -> None:
        """Fork the drawing child; a thread here takes its answer as it comes."""
        if self.pid or not (sys.platform.startswith("linux") and hasattr(os, "fork")):
            return
        try:
            r, w = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # pragma: no cover - the child (its output is checked by the tests)
            os.close(r)
            _child(plots, w)
        os.close(w)
        self.pid = pid
        self.reading = threading.Thread(target=self._read, args=(r,), daemon=True)
        self.reading.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            try:
                got = pickle.load(f)
            except (OSError, EOFError, pickle.PickleError, AttributeError, ValueError):
                got = None
        self.answer = got if isinstance(got, dict) else None

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
        if not self.pid or self.reading is None:
            return None
        self.reading.join(timeout)
        if self.reading.is_alive():  # stuck: its figures are drawn here instead
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self.answer = None
        os.waitpid(self.pid, 0)
        self.pid = 0
        return self.answer

    def close(self) -> None:
        """Wait for the child, its figures not needed (an analysis that failed)."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            self._wait()


def _child(plots: Plots, fd: int) -> None:
    """Draw every figure, each in a process of its own, and write {key: PNG bytes}
    ({key: error text} for a drawing that failed) to ``fd``; then leave."""
    try:
        os.nice(NICE)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - gone with the process
        from . import figures

        children = []
        for key, draw in figures.DRAWN.items():
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    result: object = figures.png(draw(plots))
                except BaseException:
                    result = traceback.format_exc()
                _write(w, result)
            os.close(w)
            children.append((key, r, pid))
        drawn: dict[str, object] = {}
        for key, r, pid in children:
            with os.fdopen(r, "rb") as f:
                try:
                    drawn[key] = pickle.load(f)
                except EOFError:
                    drawn[key] = "the drawing process ended without a figure"
            os.waitpid(pid, 0)
        _write(fd, drawn)
    finally:
        os._exit(0)


def _write(fd: int, what: object) -> None:
    """Write ``what`` to ``fd`` and leave the process."""
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(what, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(0)
