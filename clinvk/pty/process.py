"""A program in a pty of its own (pexpect makes it a session leader: its pid is its process
group's id), and the stopping of that whole group."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping
from functools import partial

import pexpect

GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed


def spawn(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
          echo: bool = True, stdin: bytes | None = None) -> pexpect.spawn:
    """pexpect.spawn of argv in a pty of `dimensions` (rows, cols). With `stdin`, the child
    reads those bytes from a file on fd 0 (a pty is no pipe: its line discipline cuts a line
    at 4095 bytes) while its output stays on the pty; the file is private to this user and
    gone again once the child has started."""
    path = _stdin_file(stdin) if stdin is not None else None
    try:
        return pexpect.spawn(
            argv[0], argv[1:], cwd=cwd, env=dict(env), encoding=None, echo=echo,
            dimensions=dimensions, use_poll=True,
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


def kill_group(child: pexpect.spawn, sig: int) -> None:
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
