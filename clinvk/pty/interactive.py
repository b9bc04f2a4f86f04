"""Hand the user's terminal over to a program running in a pty (the asciinema habit).

The program is spawned in a pty sized like the terminal. While it runs, the
terminal is in raw mode, so every key (Ctrl-C and Ctrl-Z included) goes to the program
as it would if it had been started directly (except Ctrl-Z, below); its output goes to
the terminal unchanged. Resizes are forwarded (SIGWINCH → setwinsize). Ctrl-Z suspends
like a job of the shell: the program is stopped, the terminal restored and clinvk stops
too; `fg` brings both back and the program is asked to redraw. SIGINT/SIGTERM/SIGHUP/
SIGQUIT sent to clinvk go to the program's process group; after a SIGTERM, SIGHUP or
SIGQUIT, whatever is left of that group GRACE seconds later is killed. The terminal's state is
changed only inside context managers that restore it, whatever happens. Knows no backend.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clinvk.pty.process import GRACE, finish_group, kill_group, spawn
from clinvk.pty.signals import routed
from clinvk.pty.terminal import CLASSIC, RawTerminal, terminal_size

if TYPE_CHECKING:
    from clinvk.pty.process import Child

READ_SIZE = 1 << 16
POLL = 0.1  # seconds between checks of the child's state when nothing is read
# Ctrl-Z. A program in a pty of its own cannot stop itself with SIGTSTP (its process
# group is orphaned: the kernel discards the signal), so clinvk does the job control:
# it stops the program and then itself, as the shell expects of a job.
SUSPEND_KEY = b"\x1a"


@dataclass
class InteractiveResult:
    exit_code: int | None
    signal: int | None
    duration_ms: int
    started_at: float  # epoch seconds

    @property
    def returncode(self) -> int:
        """The exit code a shell would show: the program's, or 128 + signal."""
        if self.signal is not None:
            return 128 + self.signal
        return self.exit_code if self.exit_code is not None else 1


class _Session:
    def __init__(self, child: Child, in_fd: int, out_fd: int) -> None:
        self.child = child
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.resized = False
        self.forward: list[int] = []
        self.kill_at: float | None = None  # set by a stop request: the group's last moment

    def on_winch(self, _signum: int, _frame: object) -> None:
        self.resized = True

    def on_signal(self, signum: int, _frame: object) -> None:
        self.forward.append(signum)
        if self.kill_at is None and signum != signal.SIGINT:  # SIGINT: the TUI may go on
            self.kill_at = time.monotonic() + GRACE

    def sync_size(self) -> None:
        self.resized = False
        rows, cols = terminal_size(self.out_fd, fallback=CLASSIC)
        try:
            self.child.setwinsize(rows, cols)
        except OSError:
            pass

    def signal_child(self, sig: int) -> None:
        kill_group(self.child, sig)

    def child_stopped(self) -> bool:
        """True when the child stopped itself (SIGTSTP); consumes only stop reports, so
        Child.isalive still collects the exit status."""
        try:
            info = os.waitid(os.P_PID, self.child.pid, os.WSTOPPED | os.WNOHANG)
        except ChildProcessError:
            return False
        return info is not None and info.si_code == os.CLD_STOPPED

    def suspend(self, raw: RawTerminal) -> None:
        """The child is stopped: give the terminal back and stop clinvk as well (SIGSTOP:
        the shell sees the job stopped); on `fg`, take the terminal again, continue the
        child and have it redraw (SIGWINCH)."""
        raw.__exit__(None, None, None)
        try:
            os.kill(os.getpid(), signal.SIGSTOP)
        finally:
            raw.__enter__()
            self.sync_size()
            self.signal_child(signal.SIGCONT)
            self.signal_child(signal.SIGWINCH)

    def pump(self) -> None:
        child_fd = self.child.fd
        stdin_open = True
        self.sync_size()
        with RawTerminal(self.in_fd) as raw:
            while True:
                if self.resized:
                    self.sync_size()
                while self.forward:
                    self.signal_child(self.forward.pop(0))
                fds = [child_fd, self.in_fd] if stdin_open else [child_fd]
                try:
                    ready, _, _ = select.select(fds, [], [], POLL)
                except InterruptedError:
                    continue
                if child_fd in ready:
                    try:
                        data = os.read(child_fd, READ_SIZE)
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            raise
                        data = b""
                    if not data:
                        return
                    _write_all(self.out_fd, data)
                if stdin_open and self.in_fd in ready:
                    try:
                        data = os.read(self.in_fd, READ_SIZE)
                    except OSError:
                        data = b""
                    if not data:
                        stdin_open = False
                    while SUSPEND_KEY in data:
                        head, _, data = data.partition(SUSPEND_KEY)
                        _write_all(child_fd, head)
                        self.signal_child(signal.SIGSTOP)
                        self.suspend(raw)
                    _write_all(child_fd, data)
                if not ready:
                    if not self.child.isalive():
                        return
                    if self.child_stopped():
                        self.suspend(raw)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            written = os.write(fd, data)
        except InterruptedError:
            continue
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.EBADF, errno.EPIPE):
                return
            raise
        data = data[written:]


def run_interactive(argv: list[str], *, cwd: str, env: Mapping[str, str],
                    in_fd: int = 0, out_fd: int = 1) -> InteractiveResult:
    """Run argv in a pty with the terminal on in_fd/out_fd handed over; wait for its end."""
    started_wall = time.time()
    started = time.monotonic()
    child = spawn(argv, cwd=cwd, env=env, dimensions=terminal_size(out_fd, fallback=CLASSIC))
    session = _Session(child, in_fd, out_fd)
    handlers = {signal.SIGWINCH: session.on_winch, signal.SIGINT: session.on_signal,
                signal.SIGTERM: session.on_signal, signal.SIGHUP: session.on_signal,
                signal.SIGQUIT: session.on_signal}
    ended = False
    try:
        with routed(handlers):
            session.pump()
        ended = True
    finally:
        deadline = time.monotonic() + 5
        while child.isalive() and time.monotonic() < deadline:
            time.sleep(0.05)
        forced = child.isalive()
        child.close(force=True)
        if forced or not ended:
            session.kill_at = time.monotonic()
        if session.kill_at is not None:  # nothing of the group outlives a stop request
            finish_group(child.pid, session.kill_at)
    return InteractiveResult(child.exitstatus, child.signalstatus,
                             int((time.monotonic() - started) * 1000), started_wall)
