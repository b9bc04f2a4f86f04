"""Hand the user's terminal over to a program running in a pty (the asciinema habit).

The program is spawned with pexpect in a pty sized like the terminal. While it runs, the
terminal is in raw mode, so every key (Ctrl-C and Ctrl-Z included) goes to the program
as it would if it had been started directly (except Ctrl-Z, below); its output goes to
the terminal unchanged. Resizes are forwarded (SIGWINCH → setwinsize). Ctrl-Z suspends
like a job of the shell: the program is stopped, the terminal restored and clinvk stops
too; `fg` brings both back and the program is asked to redraw. The terminal's state is
changed only inside context managers that restore it, whatever happens. Knows no backend.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import termios
import time
import tty
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import pexpect

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


def _size(fd: int) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(fd)
        return size.lines, size.columns
    except OSError:
        return 24, 80


class RawTerminal:
    """Context manager: the terminal on `fd` in raw mode, its settings restored on exit.
    May be entered again after it was left (used around a suspend)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list | None = None

    def __enter__(self) -> RawTerminal:
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


@contextmanager
def _signal_handlers(handlers: dict[int, object]) -> Iterator[None]:
    old = {}
    try:
        for sig, handler in handlers.items():
            try:
                old[sig] = signal.signal(sig, handler)  # type: ignore[arg-type]
            except ValueError:  # not in the main thread
                pass
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


class _Session:
    def __init__(self, child: pexpect.spawn, in_fd: int, out_fd: int) -> None:
        self.child = child
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.resized = False
        self.forward: list[int] = []

    def on_winch(self, _signum: int, _frame: object) -> None:
        self.resized = True

    def on_signal(self, signum: int, _frame: object) -> None:
        self.forward.append(signum)

    def sync_size(self) -> None:
        self.resized = False
        rows, cols = _size(self.out_fd)
        try:
            self.child.setwinsize(rows, cols)
        except OSError:
            pass

    def signal_child(self, sig: int) -> None:
        try:
            os.killpg(self.child.pid, sig)
        except OSError:
            try:
                os.kill(self.child.pid, sig)
            except OSError:
                pass

    def child_stopped(self) -> bool:
        """True when the child stopped itself (SIGTSTP); consumes only stop reports, so
        pexpect still collects the exit status."""
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
        child_fd = self.child.child_fd
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
    child = pexpect.spawn(argv[0], argv[1:], cwd=cwd, env=dict(env), encoding=None,
                          dimensions=_size(out_fd), use_poll=True)
    session = _Session(child, in_fd, out_fd)
    handlers = {signal.SIGWINCH: session.on_winch, signal.SIGINT: session.on_signal,
                signal.SIGTERM: session.on_signal, signal.SIGHUP: session.on_signal,
                signal.SIGQUIT: session.on_signal}
    try:
        with _signal_handlers(handlers):
            session.pump()
    finally:
        deadline = time.monotonic() + 5
        while child.isalive() and time.monotonic() < deadline:
            time.sleep(0.05)
        child.close(force=True)
    return InteractiveResult(child.exitstatus, child.signalstatus,
                             int((time.monotonic() - started) * 1000), started_wall)
