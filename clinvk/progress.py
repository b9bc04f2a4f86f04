"""A one-line progress report on stderr for long work (index build, import, export, clean).

`indexing sessions: 12,345/100,000 (4,100/s, 21 s left)`, redrawn in place with `\\r` at most
every `interval` seconds, shown only once the work has lasted `delay` seconds (quick commands
print nothing) and cleared at the end. Click-free and store-free: the store is handed the
plain callback `update(done, total)`. A disabled Progress (no terminal, --json, opt-out)
costs one method call per item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import IO, Any

DELAY = 0.5  # seconds of work before anything is drawn
INTERVAL = 0.1  # seconds between two redraws
CHECK_EVERY = 0.02  # aim: one clock read per this many seconds of work
OPT_OUT = "CLINVK_NO_PROGRESS"


def wanted(stream: IO[str], environ: Mapping[str, str], configured: bool = True) -> bool:
    """Whether to draw progress on `stream`: a terminal, the config's output.progress on,
    and CLINVK_NO_PROGRESS unset (or empty or 0)."""
    if not configured or environ.get(OPT_OUT, "") not in ("", "0"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _count(n: int) -> str:
    return f"{n:,}"


def _left(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s left"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s left"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min left"


def render(label: str, done: int, total: int | None, elapsed: float) -> str:
    """The text of one progress line (no `\\r`, no padding)."""
    counted = _count(done) if not total else f"{_count(done)}/{_count(total)}"
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"{_count(int(rate + 0.5))}/s"]
    if total and rate > 0 and done <= total:
        parts.append(_left((total - done) / rate))
    return f"{label}: {counted} ({', '.join(parts)})"


class Progress:
    """One piece of long work's progress line; a context manager that clears it at the end."""

    def __init__(self, stream: IO[str] | None, label: str, *, total: int | None = None,
                 enabled: bool = True, clock: Callable[[], float] = time.monotonic,
                 delay: float | None = None, interval: float | None = None) -> None:
        self.stream = stream
        self.label = label
        self.total = total
        self.enabled = enabled and stream is not None
        self.done = 0
        self._clock = clock
        self._interval = INTERVAL if interval is None else interval
        self._start = clock()
        self._next_draw = self._start + (DELAY if delay is None else delay)
        self._next_check = 1  # the count at which the clock is read next
        self._width = 0  # characters on screen now (0: nothing drawn)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.finish()

    def update(self, done: int, total: int | None = None) -> None:
        """The work has reached `done` (of `total`, when given); redraws when it is time."""
        self.done = done
        if total is not None:
            self.total = total
        if not self.enabled or done < self._next_check:
            return
        now = self._clock()
        elapsed = now - self._start
        # read the clock about every CHECK_EVERY seconds of work, whatever the rate
        step = int(done / elapsed * CHECK_EVERY) if elapsed > 0 else 1
        self._next_check = done + max(1, step)
        if now >= self._next_draw:
            self._next_draw = now + self._interval
            self._draw(render(self.label, done, self.total, elapsed))

    def advance(self, n: int = 1) -> None:
        """n more items done."""
        self.update(self.done + n)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.update(done, total)

    def _draw(self, text: str) -> None:
        assert self.stream is not None
        pad = " " * max(0, self._width - len(text))
        self.stream.write(f"\r{text}{pad}")
        self.stream.flush()
        self._width = len(text) + len(pad)  # what is on screen: a later clear blanks it all

    def finish(self) -> None:
        """Clear the line if anything was drawn; later updates draw nothing."""
        if self._width and self.stream is not None:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
        self._width = 0
        self.enabled = False
