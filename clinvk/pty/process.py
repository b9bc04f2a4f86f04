"""A program in a pty of its own (a session leader: its pid is its process group's id), and
the stopping of that whole group.

The fork and exec are clinvk's own (clinvk.pty.fork) and so is the running child (Child):
waiting for it, how it ended, closing its pty. Nothing is imported after the spawn either,
while the backend starts on the other CPU (ptyprocess, which clinvk used here before, brings
enum, re and shutil: ~10 ms of CPU at the backend's start, issue 9 §8)."""

from __future__ import annotations

import os
import time

from clinvk.pty.fork import fork_exec, set_size, stdin_file
from clinvk.pty.signals import signal

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping

GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed


class Child:
    """A program clinvk started in a pty: its pid (its process group's id too), the pty's
    master fd, whether it still runs and how it ended (the part of ptyprocess.PtyProcess
    that clinvk used)."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd = pid, fd
        self.status: int | None = None  # waitpid's status, once reaped
        self.reaped = False

    def isalive(self) -> bool:
        """Whether it still runs; reaps it (noting how it ended) once it has exited."""
        if self.reaped:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:  # reaped by someone else (SIGCHLD ignored): how is unknown
            self.reaped = True
            return False
        if pid == 0:
            return True
        self.status, self.reaped = status, True
        return False

    def wait(self) -> int | None:
        """Wait for it to exit; its exit code (None when a signal ended it)."""
        if not self.reaped:
            try:
                _pid, self.status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass
            self.reaped = True
        return self.exitstatus

    @property
    def exitstatus(self) -> int | None:
        """Its exit code, when it exited (None while it runs, or when a signal ended it)."""
        ok = self.status is not None and os.WIFEXITED(self.status)
        return os.WEXITSTATUS(self.status) if ok else None  # type: ignore[arg-type]

    @property
    def signalstatus(self) -> int | None:
        """The signal that ended it, if one did."""
        ok = self.status is not None and os.WIFSIGNALED(self.status)
        return os.WTERMSIG(self.status) if ok else None  # type: ignore[arg-type]

    def kill(self, sig: int) -> None:
        """Send sig to the child itself (never to a pid it no longer holds)."""
        if not self.reaped:
            os.kill(self.pid, sig)

    def setwinsize(self, rows: int, cols: int) -> None:
        set_size(self.fd, (rows, cols))

    def close(self, force: bool = True) -> None:
        """Close the pty; a child still running is then stopped (`force`: up to SIGKILL)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if not force:
            return
        for sig in (signal.SIGHUP, signal.SIGCONT, signal.SIGINT, signal.SIGKILL):
            if not self.isalive():
                return
            self.kill(sig)
            deadline = time.monotonic() + (1.0 if sig == signal.SIGKILL else 0.1)
            while self.isalive() and time.monotonic() < deadline:
                time.sleep(0.005)


def spawn(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
          echo: bool = True, stdin: bytes | None = None) -> Child:
    """argv in a new pty of `dimensions` (rows, cols), once it has exec'd (SpawnError when
    it could not). With `stdin`, the child reads those bytes from a file on fd 0 (a pty is no
    pipe: its line discipline cuts a line at 4095 bytes) while its output stays on the pty;
    the file is private to this user and unlinked before the child is even forked."""
    stdin_fd = stdin_file(stdin) if stdin is not None else None
    try:
        pid, fd = fork_exec(argv, cwd=cwd, env=env, dimensions=dimensions, echo=echo,
                            stdin_fd=stdin_fd)
    finally:
        if stdin_fd is not None:
            os.close(stdin_fd)
    return Child(pid, fd)


def kill_group(child: Child, sig: int) -> None:
    """Send sig to the child's process group (to the child alone should the group be gone)."""
    try:
        os.killpg(child.pid, sig)
    except OSError:
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
    kill_at, then SIGKILL. A group that is empty already costs nothing."""
    while _group_alive(pgid) and time.monotonic() < kill_at:
        time.sleep(0.01)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
