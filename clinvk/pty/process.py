"""A program in a pty of its own (a session leader: its pid is its process group's id), and
the stopping of that whole group.

The fork and exec are clinvk's own (clinvk.pty.fork), so that a turn's backend is spawned
before pexpect's ptyprocess is even imported: the running child is then handed to
ptyprocess.PtyProcess, which waits for it, reports how it ended and closes the pty."""

from __future__ import annotations

import os
import time

from clinvk.pty.fork import discard, fork_exec, stdin_file
from clinvk.pty.signals import signal

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ptyprocess import PtyProcess

GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed


def spawn(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
          echo: bool = True, stdin: bytes | None = None) -> PtyProcess:
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
    try:
        from ptyprocess import PtyProcess

        child = PtyProcess(pid, fd)
    except BaseException:
        discard(pid, fd, kill=True)
        raise
    child.delayafterclose = 0  # its close() would sleep 0.1 s after the child is gone
    child.argv, child.env, child.launch_dir = list(argv), dict(env), cwd
    return child


def kill_group(child: PtyProcess, sig: int) -> None:
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
