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
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

__all__ = ["Child", "Failed", "can_fork", "processors"]

STOP_GRACE_S = 5.0


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

    ``early``: the child also says something before it is done: ``work`` is called with
    a function that sends it, once, and the parent has it from :meth:`first`."""

    def __init__(self, work: Callable[..., object], *, nice: int = 0, early: bool = False) -> None:
        self.pid = 0  # 0: no child (none could be forked, or it was waited for)
        self.answer: object | None = None
        self.early = early
        self._first: object | None = None
        self._said = threading.Event()
        self._reading: threading.Thread | None = None
        if not can_fork():
            return
        try:
            r, w = os.pipe()
            pid = os.fork()
        except OSError:
            return
        if pid == 0:  # pragma: no cover - the child (its answers are checked by the tests)
            os.close(r)
            _run(work, w, nice, early)
        os.close(w)
        self.pid = pid
        self._reading = threading.Thread(target=self._read, args=(r,), daemon=True)
        self._reading.start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            if self.early:
                self._first = _load(f)
                self._said.set()
            got = _load(f)
        self._said.set()  # a child that died before it said anything says None
        if threading.current_thread() is self._reading:  # not a killed child's reader
            self.answer = got

    def first(self, timeout: float | None = None) -> object | None:
        """What an ``early`` child said before it was done (None: nothing, in time)."""
        if not self.pid or not self._said.wait(timeout):
            return None
        return self._first

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


def _load(f: BinaryIO) -> object | None:
    try:
        got: object = pickle.load(f)
    except (OSError, EOFError, pickle.PickleError, AttributeError, ValueError):
        return None
    return got


def _run(work: Callable[..., object], fd: int, nice: int, early: bool) -> None:  # pragma: no cover
    """In the child: run ``work`` and write its answer (or :class:`Failed`) to ``fd``
    (``early``: after what it sends on the way, or None if it sent nothing); then
    leave, whatever happens."""
    try:
        if nice:
            os.nice(nice)
        sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - gone with the process
        with os.fdopen(fd, "wb") as f:
            said = [False]

            def send(what: object) -> None:
                if not said[0]:
                    said[0] = True
                    pickle.dump(what, f, protocol=pickle.HIGHEST_PROTOCOL)
                    f.flush()

            try:
                answer: object = work(send) if early else work()
            except BaseException:
                answer = Failed(traceback.format_exc())
            if early and not said[0]:
                send(None)
            pickle.dump(answer, f, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        os._exit(0)
