"""A program in a pty of its own (a session leader: its pid is its process group's id), and
the stopping of that whole group.

The fork and exec are clinvk's own (the steps of ptyprocess.PtyProcess.spawn, which
pexpect uses), so that a turn's backend is spawned before pexpect is even imported: the
running child is then handed to ptyprocess.PtyProcess, which waits for it, reports how it
ended and closes the pty."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Mapping

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from ptyprocess import PtyProcess

GRACE = 3.0  # seconds a child gets to finish after Ctrl-C or SIGTERM before it is killed
MAX_FD = 1 << 20  # descriptors above are not looked at in the child (as ptyprocess)


class SpawnError(OSError):
    """The program could not be started: `step` ("exec", "chdir", "stdin", "setup") failed
    in the child with this errno; `filename` is what that step was given."""

    def __init__(self, number: int, message: str, filename: str, step: str) -> None:
        super().__init__(number, message, filename)
        self.step = step


def spawn(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
          echo: bool = True, stdin: bytes | None = None) -> PtyProcess:
    """argv in a new pty of `dimensions` (rows, cols), once it has exec'd (SpawnError when
    it could not). With `stdin`, the child reads those bytes from a file on fd 0 (a pty is no
    pipe: its line discipline cuts a line at 4095 bytes) while its output stays on the
    pty; the file is private to this user and gone again once the child has started."""
    path = _stdin_file(stdin) if stdin is not None else None
    try:
        pid, fd = fork_exec(argv, cwd=cwd, env=env, dimensions=dimensions, echo=echo,
                            stdin_path=path)
    finally:
        if path is not None:
            os.unlink(path)
    from ptyprocess import PtyProcess

    child = PtyProcess(pid, fd)
    child.delayafterclose = 0  # its close() would sleep 0.1 s after the child is gone
    child.argv, child.env, child.launch_dir = list(argv), dict(env), cwd
    return child


def find_executable(name: str, path: str | None) -> str | None:
    """shutil.which(name, path=path) on POSIX, without importing shutil (and its fnmatch,
    bz2, lzma) before the spawn: the first executable file of that name on `path`."""
    if os.sep in name:
        return name if _executable(name) else None
    if path is None:
        path = os.environ.get("PATH")
        if path is None:
            try:
                path = os.confstr("CS_PATH")
            except (AttributeError, ValueError):
                path = os.defpath
    seen: set[str] = set()
    for folder in path.split(os.pathsep) if path else ():
        if folder in seen:
            continue
        seen.add(folder)
        candidate = os.path.join(folder, name)
        if _executable(candidate):
            return candidate
    return None


def _executable(file: str) -> bool:
    return os.path.exists(file) and os.access(file, os.X_OK) and not os.path.isdir(file)


def fork_exec(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
              echo: bool, stdin_path: str | None) -> tuple[int, int]:
    """Fork a child in a new pty (os.forkpty: its own session, the pty its controlling
    terminal) and exec argv there; (pid, the pty's master fd) once the exec happened.
    A failure in the child before or at the exec comes back through a close-on-exec pipe
    and is raised here as a SpawnError with the child's errno."""
    import pty

    read_end, write_end = os.pipe()  # both close-on-exec
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec, or report why not and leave
        try:
            _in_child(argv, cwd, env, dimensions, echo, stdin_path, write_end)
        finally:
            os._exit(os.EX_OSERR)
    os.close(write_end)
    report = _read_all(read_end)
    os.close(read_end)
    if report:
        _discard(pid, fd)
        step, number, message = (report.decode("utf-8", "replace").split(":", 2) + ["", ""])[:3]
        given = {"chdir": cwd, "stdin": stdin_path or ""}.get(step, argv[0])
        raise SpawnError(int(number) if number.isdigit() else 0, message, given, step)
    try:
        _set_size(fd, dimensions)
    except OSError:
        pass
    return pid, fd


def _in_child(argv: list[str], cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
              echo: bool, stdin_path: str | None, report_fd: int) -> None:
    """Between fork and exec: size and echo of the pty, no descriptor but 0-2 (and the
    report pipe, closed by the exec), the directory, stdin; then exec. What fails is written
    to the report pipe as "step:errno:message"."""
    step = "setup"
    try:
        try:
            _set_size(0, dimensions)
        except OSError:
            pass
        if not echo:
            _echo_off(0)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, _fd_limit())
        step = "chdir"
        os.chdir(cwd)
        if stdin_path is not None:
            step = "stdin"
            file = os.open(stdin_path, os.O_RDONLY)
            os.dup2(file, 0)
            os.close(file)
        step = "exec"
        os.execvpe(argv[0], argv, dict(env))
    except OSError as exc:
        report = f"{step}:{exc.errno or 0}:{exc.strerror or exc}"
        os.write(report_fd, report.encode("utf-8", "replace"))
    except BaseException as exc:
        os.write(report_fd, f"{step}:0:{type(exc).__name__}: {exc}".encode("utf-8", "replace"))


def _fd_limit() -> int:
    """One past the highest descriptor that can be open (the soft limit, at most MAX_FD):
    without the close_range system call, closerange closes each number in turn."""
    try:
        return max(3, min(MAX_FD, os.sysconf("SC_OPEN_MAX")))
    except (ValueError, OSError):
        return MAX_FD


def _set_size(fd: int, dimensions: tuple[int, int]) -> None:
    import fcntl
    import struct
    import termios

    rows, cols = dimensions
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _echo_off(fd: int) -> None:
    import termios

    try:
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error:
        pass


def _read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return data
        data += chunk


def _discard(pid: int, fd: int) -> None:
    """A child that failed before its exec: reap it and close its pty."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)


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
