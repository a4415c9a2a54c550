"""A watch from start to end: a reader thread decodes the arriving bytes
(:func:`~dnspcap.reading.arriving.read_arriving`), the calling thread feeds the
:class:`~dnspcap.watch.engine.Engine` and steps it every ``STEP_S``, prints each
confirmed finding as a line and, on a terminal, a status line every ``STATUS_S``.

The watch ends at the end of its input, after ``duration`` seconds, or at Ctrl-C: the
reader is told to stop, what it decoded is stepped once more with everything final.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TextIO

import pandas as pd

from ..pairing import SKEW_ALLOWANCE_S
from ..reading.arriving import read_arriving
from ..report.text import _SGR, safe
from ..times import digits_of, iso
from .engine import Engine, Event
from .source import _Arriving

STEP_S = 1.0
STATUS_S = 2.0
# the memory bound when packets come faster than steps: the engine steps once this many
# messages wait for it, and the reader waits once QUEUE_CHUNKS chunks of CHUNK_MESSAGES do
# (a step's worth: the reader reads the next step while the engine works on this one; with
# two chunks it waited for most of each step, and the step then waited for it: a 2M pipe
# took 4.48-4.53 s, now 4.25-4.32 s, with 20-30 MB more at the peak)
MAX_NEW = 1_000_000
CHUNK_MESSAGES = 200_000
QUEUE_CHUNKS = 5
# the capture's clock follows the wall clock when its packets are this close to it (a live
# capture): an idle network's queries still time out; minus a little for what is in flight
LIVE_NEAR_S = 120.0
IN_FLIGHT_S = 2.0


@dataclass
class Settings:
    ports: Iterable[int] = (53,)
    multicast: bool = False
    select: Iterable[str] | None = None
    ignore: Iterable[str] = ()
    options: Mapping[str, float] = field(default_factory=dict)
    skew: float = SKEW_ALLOWANCE_S
    duration: float | None = None
    spill: Path | None = None  # the folder a watch's past is kept in (None: in memory)
    evidence: bool = True  # keep the evidence as it goes (files: read again at the end)


class _End:
    pass


def watch(
    stream: _Arriving,
    settings: Settings,
    *,
    out: TextIO,
    status: TextIO | None = None,
    color: bool = False,
    on_step: Callable[[Engine], None] | None = None,
) -> tuple[Engine, list[Event]]:
    """Watch the stream to its end; each confirmed finding is a line on ``out`` (and in
    the list returned); ``status``: a terminal for the status line."""
    engine = Engine(
        select=settings.select, ignore=settings.ignore, options=settings.options,
        skew=settings.skew, spill=settings.spill, evidence=settings.evidence,
    )  # fmt: skip
    chunks: queue.Queue[pd.DataFrame | BaseException | _End] = queue.Queue(QUEUE_CHUNKS)
    _start_reader(stream, chunks, settings)
    line = _Lines(out, status, color)
    restore = _stop_on_interrupt(stream.stop)
    try:
        return _loop(engine, chunks, stream, settings, line, on_step)
    finally:
        restore()


def _start_reader(
    stream: _Arriving,
    chunks: queue.Queue[pd.DataFrame | BaseException | _End],
    settings: Settings,
) -> None:
    def read() -> None:
        try:
            read_arriving(
                stream, chunks.put, ports=settings.ports, multicast=settings.multicast,
                chunk_messages=CHUNK_MESSAGES,
            )  # fmt: skip
        except BaseException as e:  # handed to the calling thread
            chunks.put(e)
        finally:
            chunks.put(_End())

    threading.Thread(target=read, name="dnspcap-watch-reader", daemon=True).start()


def _loop(
    engine: Engine,
    chunks: queue.Queue[pd.DataFrame | BaseException | _End],
    stream: _Arriving,
    settings: Settings,
    line: _Lines,
    on_step: Callable[[Engine], None] | None,
) -> tuple[Engine, list[Event]]:
    started = time.monotonic()
    events: list[Event] = []
    last_step = last_status = started
    wait = STEP_S
    while True:
        item = _next(chunks, stream, started, settings.duration)
        if isinstance(item, _End):
            after = getattr(stream, "next", None)
            if after is None:
                break
            stream = after  # the next file of a rotated set: the same watch goes on
            _start_reader(stream, chunks, settings)
            continue
        if isinstance(item, BaseException):
            stream.stop.set()
            raise item
        if item is not None:
            engine.feed(item)
        if engine.pending:  # a step's part scanned aside is back: its lines
            got = engine.collect()
            events += got
            line.events(got, engine)
        now = time.monotonic()
        # on time once the input is caught up with (a live capture: lines come within
        # seconds); while the input runs ahead (a file piped in), in steps of MAX_NEW
        caught_up = chunks.empty()
        if (caught_up and now - last_step >= wait) or engine.waiting >= MAX_NEW:
            got = engine.step(now=_live_now(engine))
            last_step = time.monotonic()
            # a step re-reads what the window holds: at most a third of the time goes to
            # that, the rest to new packets (a fast pipe gets fewer, larger steps)
            wait = max(STEP_S, 2 * (last_step - now))
            events += got
            line.events(got, engine)
            if on_step is not None:
                on_step(engine)
        if now - last_status >= STATUS_S:
            last_status = now
            line.status(engine)
    got = engine.step(end=True)
    events += got
    line.events(got, engine)
    line.status(engine, final=True)
    if on_step is not None:
        on_step(engine)
    return engine, events


def _stop_on_interrupt(stop: threading.Event) -> Callable[[], None]:
    """Ctrl-C ends the watch with its report (the reader stops within a poll, what it
    read is stepped); a second Ctrl-C interrupts as usual."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    before = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, before)

    signal.signal(signal.SIGINT, on_interrupt)

    def restore() -> None:
        signal.signal(signal.SIGINT, before)

    return restore


def _next(
    chunks: queue.Queue[pd.DataFrame | BaseException | _End],
    stream: _Arriving,
    started: float,
    duration: float | None,
) -> pd.DataFrame | BaseException | _End | None:
    if duration is not None and time.monotonic() - started >= duration:
        stream.stop.set()
    try:
        return chunks.get(timeout=0.2)
    except queue.Empty:
        return None


def _live_now(engine: Engine) -> int | None:
    """The wall clock, when the capture's packets say it is live."""
    wall = time.time_ns()
    if engine.now > 0 and abs(wall - engine.now) < LIVE_NEAR_S * 1e9:
        return wall - int(IN_FLIGHT_S * 1e9)
    return None


class _Lines:
    """The lines a watch prints: findings on ``out``, the status on a terminal."""

    def __init__(self, out: TextIO, status: TextIO | None, color: bool) -> None:
        self.out, self.term, self.color = out, status, color
        self.shown = False

    def events(self, events: list[Event], engine: Engine) -> None:
        if not events:
            return
        self._clear()
        digits = digits_of(engine.attrs)
        for e in events:
            when = iso(pd.Timestamp(e.time, tz="UTC"), digits)
            head = f"{e.code} {e.severity}"
            if self.color and e.severity in _SGR:
                head = f"\x1b[{_SGR[e.severity]}m{head}\x1b[0m"
            self.out.write(f"{when}  {head}  {safe(e.summary)}  [{e.display_filter}]\n")
        self.out.flush()

    def status(self, engine: Engine, final: bool = False) -> None:
        if self.term is None:
            return
        text = (
            f"watching: {engine.packets:,} packets, {engine.seq:,} DNS messages, "
            f"{engine.lookups_done:,} lookups, {engine.events:,} findings; "
            f"holding {engine.held:,} messages"
        )
        self.term.write("\r\x1b[K" + text + ("\n" if final else ""))
        self.term.flush()
        self.shown = not final

    def _clear(self) -> None:
        if self.shown and self.term is not None:
            self.term.write("\r\x1b[K")
            self.term.flush()
            self.shown = False


def stderr_terminal() -> TextIO | None:
    return sys.stderr if sys.stderr.isatty() else None
