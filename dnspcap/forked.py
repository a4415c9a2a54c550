"""Work done in a forked child process, its answer read back through a pipe (pickled).

Three parts of the command line use it, on Linux, where ``fork`` shares the parent's
memory copy-on-write (the child reads the tables it needs without a copy):

- the parts of a big capture's clients analysed side by side on the machine's
  processors (:func:`dnspcap.pipeline.in_parts`);
- the report's figures, drawn while the detectors run
  (:class:`dnspcap.report.drawing.Painter`);
- a watch's big step scanned while the watch reads and pairs the next
  (:mod:`dnspcap.watch.aside`).

The child runs one function and leaves with ``os._exit``. It writes nothing to the
streams it inherited: a lock another thread held at the fork would stop it there, so
its ``sys.stdout`` and ``sys.stderr`` are ``/dev/null``. A thread of the parent reads
its answer as it comes, so that the child's memory goes back as soon as it is done.

Whatever goes wrong - no ``fork`` (or not Linux), the child's death, an answer that
does not unpickle, more time than the caller allows (the child is then killed) - the
caller is told ``None`` and does the work itself, where an error is raised as usual. A
function that raised in the child answers :class:`Failed`, with its traceback.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["DONE", "Child", "Failed", "can_fork", "processors"]

STOP_GRACE_S = 5.0
DONE = "child done"  # what a child's inbox has from it last: it is done, or dead
_END = object()  # no more from the child


@dataclass(frozen=True)
class Failed:
    """The child's function raised: its traceback."""

    text: str


def can_fork() -> bool:
    """Whether work can be forked here (Linux: other systems' fork is not safe with the
    libraries a report loads)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def processors() -> int:
    """The processors this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


class Child:
    """``work()`` run in a forked child (see the module's docstring). ``nice``: how much
    lower the child's priority is (work that should take only idle processors).

    ``inbox``: the child also says things while it works: ``work`` is called with a
    function that sends one, any number of times, and each comes to ``inbox`` as
    ``(child, what)`` as soon as it is read, in the order sent; its answer comes last,
    then ``(child, DONE)`` once it is done or dead. The reading thread reaps it then,
    so :meth:`result` need not wait for a big child's memory to go."""

    def __init__(
        self,
        work: Callable[..., object],
        *,
        nice: int = 0,
        inbox: queue.Queue[tuple[Child, object]] | None = None,
    ) -> None:
        self.pid = 0  # 0: no child (none could be forked, or it was waited for)
        self.answer: object | None = None
        self.inbox = inbox
        self._reading: threading.Thread | None = None
        self._reaped = False
        if not can_fork():
            return
        try:
            r, w = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # pragma: no cover - the child (its answers are checked by the tests)
            os.close(r)
            _run(work, w, nice, inbox is not None)
        os.close(w)
        self.pid = pid
        self._reading = threading.Thread(target=self._read, args=(r,), daemon=True)
        self._reading.start()

    def _read(self, fd: int) -> None:
        got: object | None = None
        with os.fdopen(fd, "rb") as f:
            while (said := _load(f)) is not _END:
                got = said
                if self.inbox is None:
                    break
                self.inbox.put((self, said))
        mine = threading.current_thread() is self._reading  # not a killed child's reader
        if mine:
            self.answer = got
        if self.inbox is not None:
            if mine:  # its memory goes back while the caller goes on
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(self.pid, 0)
                self._reaped = True
            self.inbox.put((self, DONE))

    def done(self) -> bool:
        """Whether the child has answered, or died (:meth:`result` will not wait)."""
        return self._reading is None or not self._reading.is_alive()

    def result(self, timeout: float | None = None) -> object | None:
        """The child's answer, once it is done (None: there was no child, it died or
        answered nonsense, or it took longer than ``timeout`` seconds and was killed)."""
        if not self.pid or self._reading is None:
            return None
        self._reading.join(timeout)
        if self._reading.is_alive():  # stuck: killed, its work is done by the caller
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGKILL)
            self._reading = None  # what it may still read is not this answer
            self.answer = None
        if not self._reaped:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self.pid = 0
        return self.answer

    def stop(self) -> None:
        """End the child, its answer not needed (killed if it outlives a request to end
        by ``STOP_GRACE_S``)."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.kill(self.pid, signal.SIGTERM)
            self.result(STOP_GRACE_S)


def _load(f: BinaryIO) -> object:
    """The next thing the child said; _END at the end, or where it does not unpickle."""
    try:
        got: object = pickle.load(f)
    except (OSError, EOFError, pickle.PickleError, AttributeError, ValueError):
        return _END
    return got


def _run(work: Callable[..., object], fd: int, nice: int, says: bool) -> None:  # pragma: no cover
    """In the child: run ``work`` (``says``: with a function that sends what it says on
    the way) and write its answer (or :class:`Failed`) to ``fd``; then leave, whatever
    happens."""
    try:
        if nice:
            os.nice(nice)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - gone with the process
        with os.fdopen(fd, "wb") as f:

            def send(what: object) -> None:
                pickle.dump(what, f, protocol=pickle.HIGHEST_PROTOCOL)
                f.flush()

            try:
                answer: object = work(send) if says else work()
            except BaseException:
                answer = Failed(traceback.format_exc())
            pickle.dump(answer, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(0)
