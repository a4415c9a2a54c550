"""A big step's part scanned aside, in a forked child (:mod:`dnspcap.forked`), while the
watch goes on to the next step.

A step of a fast pipe holds a million messages; scanning what it lets go by every
detector and by the report's summary (:func:`~dnspcap.watch.released.part_of`) is a
third of its time, and nothing the next step does needs it: the next step needs only
which messages this one keeps. So the watch forks a child for the scan and pairs and
groups the next step meanwhile, on the machine's other processor; the part comes back
pickled (its scans: small). Its lines are printed when it is back, at the watch's next
look (:meth:`~dnspcap.watch.engine.Engine.collect`), a step later at the most; a race
(DNS001) is announced from what is held, as before, without waiting for it.

A child that fails, dies or is stuck leaves the scan to the watch, which made the
step's tables and keeps them until the part is back (the child shares them; they are
its memory, not a copy); where there is no ``fork``, or for a small step, the scan is
made at once, as before.
"""

from __future__ import annotations

from collections.abc import Callable

from ..findings.scan import Part
from ..forked import Child, can_fork

# steps holding this many messages or more are scanned aside (a fork of a process of a
# few hundred MB takes a few milliseconds; a small step's scan takes less)
ASIDE_FROM = 200_000
# a child that has not answered this long after it was asked is taken to be stuck
CHILD_SLACK_S = 300.0

Scanned = tuple[Part, object]  # the part, and what the watch keeps of its messages


class Aside:
    """One step's scan (``work``), in a child when ``fork`` is true and possible, else
    made at once."""

    def __init__(self, work: Callable[[], Scanned], *, fork: bool) -> None:
        self.work: Callable[[], Scanned] | None = work
        self.child = Child(work) if fork and can_fork() else None
        self.got: Scanned | None = None
        if self.child is None or not self.child.pid:
            self.got, self.work, self.child = work(), None, None

    def ready(self) -> bool:
        """Whether the part is back (without waiting)."""
        return self.got is not None or self.child is None or self.child.done()

    def result(self) -> Scanned:
        """The part, waiting for the child if need be (made here if it failed)."""
        if self.got is None:
            got = self.child.result(CHILD_SLACK_S) if self.child is not None else None
            if not _scanned(got):
                assert self.work is not None
                got = self.work()  # the child failed: here, where an error is raised
            self.got = got  # type: ignore[assignment]
            self.work = self.child = None  # the step's tables go
        assert self.got is not None
        return self.got


def _scanned(got: object) -> bool:
    return isinstance(got, tuple) and len(got) == 2 and isinstance(got[0], Part)
