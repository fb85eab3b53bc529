"""The one progress helper of long runs (indexing, decoding training sets): a tqdm bar on a terminal, and a
line every ``interval`` seconds when the output is a log file or a pipe, where a bar would print nothing
readable (or nothing at all for minutes).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO

LINE_INTERVAL_S = 30.0  # how often a progress line is printed when the output is not a terminal

ProgressObserver = Callable[[str, int, int, dict], None]
"""Told of a run's progress as it changes: (what runs: a bar's ``desc``, units done, units in all, its postfix
fields such as ``files="3/12"``). Called on the thread that updates the bar, so it must be quick."""


def progress_bar(
    total: int = 0,
    unit: str = "item",
    desc: str = "",
    enabled: bool = True,
    interval: float = LINE_INTERVAL_S,
    stream: TextIO | None = None,
    observer: ProgressObserver | None = None,
):
    """A tqdm-like progress reporter: ``update(n)``, ``set_postfix(**fields)``, a settable ``total``, ``close()``.

    On a terminal it is a tqdm bar; otherwise a :class:`LineProgress` printing one line every ``interval``
    seconds (and one at the end); disabled, a :class:`NoProgress` that does nothing. ``stream``: stderr.
    With an ``observer``, every change is also told to it (:class:`ObservedProgress`).
    """
    bar = _bar(total, unit, desc, enabled, interval, stream)
    return bar if observer is None else ObservedProgress(bar, desc, observer)


def _bar(total: int, unit: str, desc: str, enabled: bool, interval: float, stream: TextIO | None):
    if not enabled:
        return NoProgress(total)
    stream = sys.stderr if stream is None else stream
    if _is_terminal(stream):
        from tqdm.auto import tqdm

        return tqdm(total=total, unit=unit, desc=desc, dynamic_ncols=True, mininterval=0.5, file=stream)
    return LineProgress(total, unit, desc, interval, stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class NoProgress:
    """Progress that is not shown: callers update it without checking whether progress is on."""

    def __init__(self, total: int = 0):
        self.total = total
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **fields) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_) -> None:
        self.close()


class ObservedProgress:
    """A progress bar whose changes are also told to an observer: ``(desc, n, total, postfix)``."""

    def __init__(self, bar, desc: str, observer: ProgressObserver):
        self.bar, self.desc, self.observer = bar, desc, observer
        self.postfix: dict = {}
        self._tell()

    @property
    def n(self) -> int:
        return int(self.bar.n)

    @property
    def total(self) -> int:
        return int(self.bar.total or 0)

    @total.setter
    def total(self, value: int) -> None:
        self.bar.total = value
        self._tell()

    def update(self, n: int = 1) -> None:
        self.bar.update(n)
        self._tell()

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **fields) -> None:
        self.postfix = {**(ordered_dict or {}), **fields}
        self.bar.set_postfix(ordered_dict, refresh=refresh, **fields)
        self._tell()

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *_) -> None:
        self.close()

    def _tell(self) -> None:
        self.observer(self.desc, self.n, self.total, self.postfix)


class LineProgress(NoProgress):
    """One line of progress every ``interval`` seconds, and a last one on :meth:`close`, such as
    ``indexing: 120/480 segments (25%), 3.1 segments/s, ETA 1m56s, 3/12 files``.

    The rate (and so the ETA) is measured from the first update on, leaving out its own count: the start-up
    before it (loading, starting workers) says nothing about how fast the rest will go.
    """

    def __init__(self, total: int, unit: str, desc: str, interval: float, stream: TextIO, clock=time.monotonic):
        super().__init__(total)
        self.unit, self.desc, self.interval, self.stream, self.clock = unit, desc, interval, stream, clock
        self.started = self.last_line = clock()
        self.steady_from: tuple[float, int] | None = None  # (time, count) of the first update
        self.postfix: dict = {}
        self.closed = False

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        if self.steady_from is None:
            self.steady_from = (now, self.n)
        if now - self.last_line >= self.interval:
            self._print(now)

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **fields) -> None:
        self.postfix = {**(ordered_dict or {}), **fields}

    @property
    def rate(self) -> float | None:
        """Units per second since the first update (None until it can tell)."""
        if self.steady_from is None:
            return None
        since, count = self.steady_from
        seconds = self.clock() - since
        return (self.n - count) / seconds if seconds > 0 and self.n > count else None

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._print(self.clock(), final=True)

    def _print(self, now: float, final: bool = False) -> None:
        self.last_line = now
        elapsed = now - self.started
        if final:  # the whole run's rate, and how long it took
            line = progress_line(
                self.desc, self.n, self.total, self.unit, self.n / elapsed if elapsed > 0 else None, self.postfix, elapsed
            )
        else:
            line = progress_line(self.desc, self.n, self.total, self.unit, self.rate, self.postfix)
        self.stream.write(line + "\n")
        self.stream.flush()


def progress_line(desc: str, n: int, total: int, unit: str, rate: float | None, postfix: dict, took: float | None = None) -> str:
    """``desc: n/total units (pct%), rate units/s, ETA …, postfix…``: the rate and ETA where ``rate`` is known;
    ``took``: a finished run's duration instead of the ETA."""
    units = unit if unit.endswith("s") else unit + "s"
    parts = [f"{n}/{total} {units}" + (f" ({min(n / total, 1.0):.0%})" if total > 0 else "")]
    if rate:
        parts.append(f"{rate:.3g} {units}/s")
    if took is not None:
        parts.append(f"in {format_duration(took)}")
    elif rate and total > n:
        parts.append(f"ETA {format_duration((total - n) / rate)}")
    parts += [f"{value} {name}" for name, value in postfix.items()]
    return f"{desc}: " + ", ".join(parts) if desc else ", ".join(parts)


def format_duration(seconds: float) -> str:
    """A rough duration: ``45s``, ``2m05s``, ``3h07m``."""
    seconds = max(0, math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
