"""Run a command in a pty with pexpect and hand its output over line by line.

The runner knows no backend: it spawns argv, splits what arrives into lines (tolerating
`\\r\\n`, multi-byte characters split across reads and very long lines), enforces a
timeout by killing the whole process group, and forwards Ctrl-C to the child, giving it
a moment to finish before it is killed. Memory stays flat: nothing is kept but the
current partial line (bounded by MAX_LINE).
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pexpect

READ_SIZE = 1 << 16
MAX_LINE = 16 << 20  # a longer line is handed over in pieces rather than buffered whole
POLL = 0.2  # how often a quiet child is checked for timeout / interrupt
GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed


@dataclass
class RunResult:
    exit_code: int | None
    signal: int | None
    timed_out: bool
    interrupted: bool
    duration_ms: int


class _Stop:
    """Records a SIGINT/SIGTERM received while the child runs."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signum = signum


@contextmanager
def _catching_signals(stop: _Stop) -> Iterator[None]:
    """Route SIGINT/SIGTERM to `stop` for the duration, restoring the old handlers after."""
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            old[sig] = signal.signal(sig, stop)
        except ValueError:  # not in the main thread: leave signals alone
            pass
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def terminal_size(fd: int = 2) -> tuple[int, int]:
    """(rows, cols) of the user's terminal, or a wide default."""
    for candidate in (fd, 1, 0):
        try:
            size = os.get_terminal_size(candidate)
            return size.lines, size.columns
        except OSError:
            continue
    return 50, 200


class LineSplitter:
    """Turns chunks of bytes into decoded lines without their line endings."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buf = bytearray()
        self._max = max_line

    def feed(self, chunk: bytes) -> list[str]:
        self._buf += chunk
        lines: list[str] = []
        start = 0
        while True:
            nl = self._buf.find(b"\n", start)
            if nl < 0:
                break
            lines.append(_decode(self._buf[start:nl]))
            start = nl + 1
        if start:
            del self._buf[:start]
        if len(self._buf) > self._max:
            lines.append(_decode(self._buf))
            self._buf.clear()
        return lines

    def flush(self) -> list[str]:
        if not self._buf:
            return []
        line = _decode(self._buf)
        self._buf.clear()
        return [line]


def _decode(raw: bytes | bytearray) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


class _PtyReader:
    """Reads the pty of a pexpect child without pexpect's per-read poll: the fd is
    non-blocking, so a busy child is drained with plain reads and a quiet one is waited
    for with one poll."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.poller = select.poll()
        self.poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read(self, wait: float) -> bytes | None:
        """Some output; b"" at the end of it; None when nothing came within `wait` seconds."""
        for attempt in (0, 1):
            try:
                return os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                if attempt or not self.poller.poll(int(wait * 1000)):
                    return None
            except OSError:  # EIO: every process holding the pty has closed it
                return b""
        return None


def _kill_group(child: pexpect.spawn, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            child.kill(sig)
        except OSError:
            pass


def _reap(child: pexpect.spawn, stop: _Stop, deadline: float | None, grace: float) -> None:
    """Wait for a child whose output has ended to exit, without pexpect's fixed sleeps;
    a child that lingers past the timeout or a Ctrl-C is killed with its group."""
    kill_at: float | None = None
    while child.isalive():
        now = time.monotonic()
        if kill_at is None and (stop.signum is not None or (deadline is not None and now >= deadline)):
            _kill_group(child, signal.SIGTERM)
            kill_at = now + grace
        elif kill_at is not None and now >= kill_at:
            _kill_group(child, signal.SIGKILL)
            kill_at = now + 5.0
        time.sleep(0.005)
    child.ptyproc.delayafterclose = 0
    child.close(force=True)


def _after_spawn(child: pexpect.spawn, on_spawn: Callable[[], None], stop: _Stop,
                 grace: float) -> None:
    """The caller's setup while the child starts; if it fails, the child goes with it."""
    try:
        on_spawn()
    except BaseException:
        _kill_group(child, signal.SIGKILL)
        _reap(child, stop, None, grace)
        raise


def run_lines(
    argv: list[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float | None = None,
    grace: float = GRACE,
    on_spawn: Callable[[], None] | None = None,
) -> RunResult:
    """Spawn argv in a pty, call on_line for every line of its output, and wait for it.

    on_spawn is called once the child runs, before any line: the caller's setup then
    overlaps the child's start (a Ctrl-C meanwhile is forwarded like any other)."""
    started = time.monotonic()
    child = pexpect.spawn(
        argv[0], argv[1:], cwd=cwd, env=dict(env), encoding=None, echo=False,
        dimensions=terminal_size(), use_poll=True,
    )
    stop = _Stop()
    splitter = LineSplitter()
    reader = _PtyReader(child.child_fd)
    deadline = started + timeout if timeout else None
    timed_out = interrupted = False
    kill_at: float | None = None
    with _catching_signals(stop):
        if on_spawn is not None:
            _after_spawn(child, on_spawn, stop, grace)
        while True:
            now = time.monotonic()
            if stop.signum is not None and not interrupted:
                interrupted = True
                _kill_group(child, signal.SIGINT if stop.signum == signal.SIGINT else signal.SIGTERM)
                kill_at = now + grace
            if deadline is not None and now >= deadline and not timed_out and not interrupted:
                timed_out = True
                _kill_group(child, signal.SIGTERM)
                kill_at = now + min(grace, 1.0)
            if kill_at is not None and now >= kill_at:
                _kill_group(child, signal.SIGKILL)
                kill_at = now + 5.0
            wait = POLL
            if deadline is not None and not timed_out:
                wait = max(0.0, min(wait, deadline - now))
            chunk = reader.read(wait)
            if chunk is None:  # nothing for a while
                if not child.isalive():  # exited, but something still holds the pty open
                    break
                continue
            if not chunk:
                break
            for line in splitter.feed(chunk):
                on_line(line)
        for line in splitter.flush():
            on_line(line)
        _reap(child, stop, deadline if not timed_out else None, grace)
    return RunResult(
        exit_code=child.exitstatus,
        signal=child.signalstatus,
        timed_out=timed_out,
        interrupted=interrupted,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
