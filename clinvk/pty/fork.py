"""clinvk's own fork and exec of a program in a new pty: the steps of ptyprocess's spawn
(which pexpect uses), done with the few standard modules a turn imports before its backend
is started. Knows no backend."""

from __future__ import annotations

import fcntl  # imported before the fork: nothing is imported between fork and exec
import os
import sys
import termios

from clinvk.pty.signals import signal

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping

MAX_FD = 1 << 20  # descriptors above are not looked at in the child (as ptyprocess)
STDIN_FD_BASE = 3  # the parent's descriptors the child uses live at or above this


class SpawnError(OSError):
    """The program could not be started: `step` ("exec", "chdir", "setup") failed in the
    child with this errno; `filename` is what that step was given."""

    def __init__(self, number: int, message: str, filename: str, step: str) -> None:
        super().__init__(number, message, filename)
        self.step = step


def fork_exec(argv: list[str], *, cwd: str, env: Mapping[str, str], dimensions: tuple[int, int],
              echo: bool, stdin_fd: int | None) -> tuple[int, int]:
    """Fork a child in a new pty (os.forkpty: its own session, the pty its controlling
    terminal) and exec argv there; (pid, the pty's master fd) once the exec happened. A
    failure in the child before or at the exec comes back through a close-on-exec pipe and
    is raised here as a SpawnError; anything that stops the parent meanwhile (Ctrl-C) kills
    and reaps the child first. `stdin_fd`: a file the child reads as its fd 0."""
    _keep_exit_status()
    read_end, write_end = _pipe()
    try:
        pid, fd = os.forkpty()
    except BaseException:
        os.close(read_end)
        os.close(write_end)
        raise
    if pid == 0:  # the child: exec, or report why not and leave
        try:
            _in_child(argv, cwd, env, (dimensions, echo, stdin_fd), write_end)
        finally:
            os._exit(os.EX_OSERR)
    os.close(write_end)
    try:
        report = _read_all(read_end)
    except BaseException:
        discard(pid, fd, kill=True)
        raise
    finally:
        os.close(read_end)
    if report:
        discard(pid, fd)
        step, number, message = (report.decode("utf-8", "replace").split(":", 2) + ["", ""])[:3]
        raise SpawnError(int(number) if number.isdigit() else 0, message,
                         cwd if step == "chdir" else argv[0], step)
    try:
        set_size(fd, dimensions)
    except OSError:
        pass
    return pid, fd


def _keep_exit_status() -> None:
    """SIGCHLD back to its default when clinvk was started with it ignored (inherited across
    exec): the kernel would reap the child itself, and how it ended would be lost (a failed
    backend taken for a successful one)."""
    try:
        if signal.getsignal(signal.SIGCHLD) == signal.SIG_IGN:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    except ValueError:  # not in the main thread: nothing to be done here
        pass


def _pipe() -> tuple[int, int]:
    """A close-on-exec pipe whose ends are not 0-2 (which the child's pty replaces), even
    when clinvk was started with its standard descriptors closed."""
    ends = os.pipe()
    return tuple(_above_stdio(end) for end in ends)  # type: ignore[return-value]


def _above_stdio(fd: int) -> int:
    if fd >= STDIN_FD_BASE:
        return fd
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, STDIN_FD_BASE)
    os.close(fd)
    return moved


def _in_child(argv: list[str], cwd: str, env: Mapping[str, str],
              tty: tuple[tuple[int, int], bool, int | None], report_fd: int) -> None:
    """Between fork and exec: the signals Python ignores back to their defaults (as a shell
    leaves them), size and echo of the pty, stdin, no descriptor but 0-2 (and the report
    pipe, closed by the exec), the directory; then exec. What fails is written to the
    report pipe as "step:errno:message"."""
    dimensions, echo, stdin_fd = tty
    step = "setup"
    try:
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        try:
            set_size(0, dimensions)
        except OSError:
            pass
        if not echo:
            _echo_off(0)
        if stdin_fd is not None:
            os.dup2(stdin_fd, 0)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, _fd_limit())
        step = "chdir"
        os.chdir(cwd)
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


def set_size(fd: int, dimensions: tuple[int, int]) -> None:
    """The window size (rows, cols) of the terminal on fd."""
    rows, cols = dimensions
    # struct winsize: four unsigned shorts (rows, cols, x and y pixels), native byte order
    packed = b"".join(v.to_bytes(2, sys.byteorder) for v in (rows, cols, 0, 0))
    fcntl.ioctl(fd, termios.TIOCSWINSZ, packed)


def _echo_off(fd: int) -> None:
    try:
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except termios.error:
        pass


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def discard(pid: int, fd: int, kill: bool = False) -> None:
    """A child that will not be used: (killed with its group,) reaped, its pty closed."""
    if kill:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
    os.close(fd)


def stdin_file(data: bytes) -> int:
    """A descriptor of a file holding `data`, read from its start: a private temporary file
    that is unlinked at once (nothing is left behind whatever happens next)."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="clinvk-stdin-")
    os.unlink(path)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return _above_stdio(fd)


def find_executable(name: str, path: str | None) -> str | None:
    """shutil.which(name, path=path) on POSIX without importing shutil before the spawn, made
    absolute (the exec happens in the working directory): the first executable file of that
    name on `path`."""
    if os.sep in name:
        return os.path.abspath(name) if _executable(name) else None
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
            return os.path.abspath(candidate)
    return None


def _executable(file: str) -> bool:
    return os.path.exists(file) and os.access(file, os.X_OK) and not os.path.isdir(file)
