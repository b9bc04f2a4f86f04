"""Run a command in a pty and hand its output over line by line.

The runner knows no backend: it spawns argv, splits what arrives into lines (tolerating
`\\r\\n`, multi-byte characters split across reads and very long lines), enforces a
timeout by killing the whole process group, and forwards Ctrl-C to the child, giving it
a moment to finish before it is killed. Memory stays flat: nothing is kept but the
current partial line (bounded by MAX_LINE).
"""

from __future__ import annotations

import os
import select
import time

from clinvk.pty.process import GRACE, finish_group, kill_group, spawn
from clinvk.pty.signals import routed, signal
from clinvk.pty.terminal import WIDE, terminal_size

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from clinvk.pty.process import Child

READ_SIZE = 1 << 16
MAX_LINE = 16 << 20  # a longer line is handed over in pieces rather than buffered whole
POLL = 0.2  # how often a quiet child is checked for timeout / interrupt
DRAIN_QUIET = 0.05  # after the child exited: output still in the pty arrives within this
DRAIN_MAX = 2.0  # ... and a grandchild that keeps the pty open is read for this long at most
EIO_CONFIRM = 3  # reads that must all end in EIO before the output is taken to have ended


class RunResult:
    """How a run ended. (A plain class: a dataclass costs its creation before the spawn.)"""

    __slots__ = ("exit_code", "signal", "timed_out", "interrupted", "duration_ms")

    def __init__(self, exit_code: int | None, signal: int | None, timed_out: bool,
                 interrupted: bool, duration_ms: int) -> None:
        self.exit_code, self.signal = exit_code, signal
        self.timed_out, self.interrupted, self.duration_ms = timed_out, interrupted, duration_ms

    def __repr__(self) -> str:
        return (f"RunResult(exit_code={self.exit_code!r}, signal={self.signal!r}, "
                f"timed_out={self.timed_out!r}, interrupted={self.interrupted!r}, "
                f"duration_ms={self.duration_ms!r})")


class _Stop:
    """Records a SIGINT, SIGTERM or SIGHUP (the terminal closed) received while the child runs."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, _frame: object) -> None:
        self.signum = signum


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


class _Prepared:
    """on_line, with the caller's `prepare` called once before the first line."""

    def __init__(self, on_line: Callable[[str], None], prepare: Callable[[], None] | None) -> None:
        self.on_line, self.pending = on_line, prepare

    def prepare(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending()

    def __call__(self, line: str) -> None:
        self.prepare()
        self.on_line(line)


class _PtyReader:
    """Reads the pty of a child without a poll per read: the fd is
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
                return self._after_eio()
        return None

    def _after_eio(self) -> bytes:
        """EIO may come while the last bytes a closing child wrote are still on their way
        to the master (others have seen it on Linux; one CI run here lost a last line,
        not reproduced since): the end is believed once EIO_CONFIRM reads a millisecond
        apart all say so."""
        for _ in range(EIO_CONFIRM):
            time.sleep(0.001)
            try:
                return os.read(self.fd, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                continue
        return b""


def _drain(reader: _PtyReader, splitter: LineSplitter, on_line: Callable[[str], None]) -> None:
    """Read what an exited child left in the pty: until its end (EIO, once no process
    holds the pty any more), a short quiet spell, or DRAIN_MAX when a grandchild that
    inherited the pty keeps writing."""
    until = time.monotonic() + DRAIN_MAX
    while time.monotonic() < until:
        chunk = reader.read(DRAIN_QUIET)
        if not chunk:  # the end, or quiet
            return
        for line in splitter.feed(chunk):
            on_line(line)


class _Killer:
    """The escalation of one run: first signal, then SIGKILL to the group at kill_at."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.kill_at: float | None = None
        self.killed = False  # SIGKILL was sent already

    def start(self, sig: int, grace: float) -> None:
        if self.kill_at is None:
            kill_group(self.child, sig)
            self.kill_at = time.monotonic() + grace

    def escalate(self) -> None:
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            kill_group(self.child, signal.SIGKILL)
            self.kill_at = time.monotonic() + 5.0
            self.killed = True


def _reap(child: Child, killer: _Killer, stop: _Stop, deadline: float | None,
          grace: float) -> None:
    """Wait for a child whose output has ended to exit, without ptyprocess's fixed sleeps;
    a child that lingers past the timeout or a Ctrl-C is killed with its group, and once
    a stop was asked for, nothing of the group outlives the grace period."""
    while child.isalive():
        if stop.signum is not None or (deadline is not None and time.monotonic() >= deadline):
            killer.start(signal.SIGTERM, grace)
        killer.escalate()
        time.sleep(0.005)
    child.close(force=True)
    if killer.kill_at is not None:
        finish_group(child.pid, time.monotonic() if killer.killed else killer.kill_at)


def _pump(child: Child, killer: _Killer, on_line: Callable[[str], None], stop: _Stop,
          deadline: float | None, grace: float) -> tuple[bool, bool]:
    """Hand the child's output to on_line until it ends; (timed out, interrupted)."""
    splitter = LineSplitter()
    reader = _PtyReader(child.fd)
    timed_out = interrupted = False
    while True:
        now = time.monotonic()
        if stop.signum is not None and not interrupted:
            interrupted = True
            killer.kill_at = None  # Ctrl-C after a timeout: the child gets its grace again
            killer.start(signal.SIGINT if stop.signum == signal.SIGINT else signal.SIGTERM, grace)
        if deadline is not None and now >= deadline and not timed_out and not interrupted:
            timed_out = True
            killer.start(signal.SIGTERM, min(grace, 1.0))
        killer.escalate()
        wait = POLL
        if deadline is not None and not timed_out:
            wait = max(0.0, min(wait, deadline - now))
        chunk = reader.read(wait)
        if chunk is None:  # nothing for a while
            if not child.isalive():  # exited: what it wrote last may still be in the pty
                _drain(reader, splitter, on_line)
                break
            continue
        if not chunk:
            break
        for line in splitter.feed(chunk):
            on_line(line)
    for line in splitter.flush():
        on_line(line)
    return timed_out, interrupted


def run_lines(
    argv: list[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float | None = None,
    grace: float = GRACE,
    stdin: bytes | None = None,
    prepare: Callable[[], None] | None = None,
) -> RunResult:
    """Spawn argv in a pty, call on_line for every line of its output, and wait for it.

    `stdin`: bytes the child reads on its standard input instead of the pty. `prepare` is
    called once the child has output, just before its first line (or once the run ends,
    should it have none): the caller's setup then runs while the child waits for whatever
    it asked for, not while the child starts, when both want the CPU (a Ctrl-C meanwhile is
    forwarded like any other). Should prepare or on_line raise (Ctrl-C while it waits for
    the store, say), the child's group is stopped like on Ctrl-C before the exception goes
    on."""
    started = time.monotonic()
    child = spawn(argv, cwd=cwd, env=env, dimensions=terminal_size(2, 1, 0, fallback=WIDE),
                  echo=False, stdin=stdin)
    stop = _Stop()
    killer = _Killer(child)
    deadline = started + timeout if timeout else None
    with routed({signal.SIGINT: stop, signal.SIGTERM: stop, signal.SIGHUP: stop}):
        lines = _Prepared(on_line, prepare)
        try:
            timed_out, interrupted = _pump(child, killer, lines, stop, deadline, grace)
            lines.prepare()
        except BaseException:
            killer.start(signal.SIGINT, grace)
            _reap(child, killer, stop, None, grace)
            raise
        _reap(child, killer, stop, deadline if not timed_out else None, grace)
    return RunResult(
        exit_code=child.exitstatus,
        signal=child.signalstatus,
        timed_out=timed_out,
        interrupted=interrupted,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
