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
from functools import partial

import pexpect

READ_SIZE = 1 << 16
MAX_LINE = 16 << 20  # a longer line is handed over in pieces rather than buffered whole
POLL = 0.2  # how often a quiet child is checked for timeout / interrupt
GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed
DRAIN_QUIET = 0.05  # after the child exited: output still in the pty arrives within this
DRAIN_MAX = 2.0  # ... and a grandchild that keeps the pty open is read for this long at most
EIO_CONFIRM = 3  # reads that must all end in EIO before the output is taken to have ended


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


def _kill_group(child: pexpect.spawn, sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            child.kill(sig)
        except OSError:
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    return True


def finish_group(pgid: int, kill_at: float) -> None:
    """After a stop was asked of a process group (Ctrl-C, timeout) and its leader is gone:
    whatever is left of the group (a grandchild ignoring TERM/INT/HUP) gets until
    kill_at, then SIGKILL. pexpect makes the child a session leader, so its pid is the
    group's id; a group that is empty already costs nothing."""
    while _group_alive(pgid) and time.monotonic() < kill_at:
        time.sleep(0.01)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


class _Killer:
    """The escalation of one run: first signal, then SIGKILL to the group at kill_at."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child
        self.kill_at: float | None = None
        self.killed = False  # SIGKILL was sent already

    def start(self, sig: int, grace: float) -> None:
        if self.kill_at is None:
            _kill_group(self.child, sig)
            self.kill_at = time.monotonic() + grace

    def escalate(self) -> None:
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            _kill_group(self.child, signal.SIGKILL)
            self.kill_at = time.monotonic() + 5.0
            self.killed = True


def _reap(child: pexpect.spawn, killer: _Killer, stop: _Stop, deadline: float | None,
          grace: float) -> None:
    """Wait for a child whose output has ended to exit, without pexpect's fixed sleeps;
    a child that lingers past the timeout or a Ctrl-C is killed with its group, and once
    a stop was asked for, nothing of the group outlives the grace period."""
    while child.isalive():
        if stop.signum is not None or (deadline is not None and time.monotonic() >= deadline):
            killer.start(signal.SIGTERM, grace)
        killer.escalate()
        time.sleep(0.005)
    child.ptyproc.delayafterclose = 0
    child.close(force=True)
    if killer.kill_at is not None:
        finish_group(child.pid, time.monotonic() if killer.killed else killer.kill_at)


def _pump(child: pexpect.spawn, killer: _Killer, on_line: Callable[[str], None], stop: _Stop,
          deadline: float | None, grace: float) -> tuple[bool, bool]:
    """Hand the child's output to on_line until it ends; (timed out, interrupted)."""
    splitter = LineSplitter()
    reader = _PtyReader(child.child_fd)
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


def _spawn(argv: list[str], cwd: str, env: Mapping[str, str], stdin: bytes | None) -> pexpect.spawn:
    """pexpect.spawn; with `stdin`, the child reads those bytes from a file on fd 0 (a pty is
    no pipe: its line discipline cuts a line at 4095 bytes) while its output stays on the pty.
    The file is private to this user and gone again once the child has started."""
    path = _stdin_file(stdin) if stdin is not None else None
    try:
        return pexpect.spawn(
            argv[0], argv[1:], cwd=cwd, env=dict(env), encoding=None, echo=False,
            dimensions=terminal_size(), use_poll=True,
            preexec_fn=None if path is None else partial(_stdin_from, path),
        )
    finally:  # spawn returns once the child has exec'd (or failed to)
        if path is not None:
            os.unlink(path)


def _stdin_file(data: bytes) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(prefix="clinvk-stdin-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except BaseException:
        os.unlink(path)
        raise
    return path


def _stdin_from(path: str) -> None:
    """In the child before exec (pexpect has closed every other descriptor by then)."""
    fd = os.open(path, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def run_lines(
    argv: list[str],
    *,
    cwd: str,
    env: Mapping[str, str],
    on_line: Callable[[str], None],
    timeout: float | None = None,
    grace: float = GRACE,
    stdin: bytes | None = None,
    on_spawn: Callable[[], None] | None = None,
) -> RunResult:
    """Spawn argv in a pty, call on_line for every line of its output, and wait for it.

    `stdin`: bytes the child reads on its standard input instead of the pty. on_spawn is
    called once the child runs, before any line: the caller's setup then overlaps the
    child's start (a Ctrl-C meanwhile is forwarded like any other). Should on_spawn or
    on_line raise (Ctrl-C while it waits for the store, say), the child's group is stopped
    like on Ctrl-C before the exception goes on."""
    started = time.monotonic()
    child = _spawn(argv, cwd, env, stdin)
    stop = _Stop()
    killer = _Killer(child)
    deadline = started + timeout if timeout else None
    with _catching_signals(stop):
        try:
            if on_spawn is not None:
                on_spawn()
            timed_out, interrupted = _pump(child, killer, on_line, stop, deadline, grace)
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
