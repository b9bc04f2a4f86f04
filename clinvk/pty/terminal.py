"""The user's terminal: its size, and raw mode for the length of an interactive run."""

from __future__ import annotations

import os
import termios

WIDE = (50, 200)  # (rows, cols) of a headless backend's pty when no terminal says
CLASSIC = (24, 80)  # ... and of an interactive one's


def terminal_size(*fds: int, fallback: tuple[int, int] = CLASSIC) -> tuple[int, int]:
    """(rows, cols) of the first of `fds` that is a terminal, else `fallback`."""
    for fd in fds:
        try:
            size = os.get_terminal_size(fd)
            return size.lines, size.columns
        except OSError:
            continue
    return fallback


class RawTerminal:
    """Context manager: the terminal on `fd` in raw mode, its settings restored on exit.
    May be entered again after it was left (used around a suspend)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list | None = None

    def __enter__(self) -> RawTerminal:
        import tty  # an interactive run's: not imported before a headless turn's spawn

        try:
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        except termios.error:
            self.saved = None  # not a terminal: nothing to change or restore
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.saved is not None:
            try:
                termios.tcsetattr(self.fd, termios.TCSAFLUSH, self.saved)
            except termios.error:
                pass
            self.saved = None
