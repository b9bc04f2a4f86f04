"""Run clinvk's real entry point in this process: httpie's MockEnvironment habit.

`run_cli(argv, env)` calls `clinvk.launch.run_cli` (what `python -m clinvk` runs, minus the
final `os._exit`) with an Environment on in-memory streams, the given variables and cwd:
nothing of clinvk is mocked, the store, the config and the pty runner are the real ones.
For the duration of the call the process looks the way a fresh `clinvk` process would:
sys.stdin/stdout/stderr are the environment's streams, os.environ is its variables, the
cwd is its folder; signal handlers, the signal mask, os.environ and the cwd are put back
afterwards, so that calls are independent of each other and of the test around them.

What needs a real process stays in subprocess tests: signals sent to clinvk, a terminal
(pty), the real backend CLIs, the os._exit path, a stdin that is closed or never ends.
"""

from __future__ import annotations

import io
import json
import os
import signal
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from clinvk.env import Environment
from clinvk.launch import run_cli as clinvk_entry

# the handlers clinvk (or a backend run) may install; put back after each call
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGALRM, signal.SIGCHLD,
           signal.SIGWINCH, signal.SIGTSTP, signal.SIGCONT, signal.SIGPIPE, signal.SIGQUIT)


@dataclass
class Result:
    """What a `clinvk` run left: exit code, and stdout/stderr as text and as bytes."""

    code: int
    out: str
    err: str
    out_bytes: bytes = b""
    err_bytes: bytes = b""

    def json(self) -> Any:
        return json.loads(self.out)


def _text_stream(buffer: io.BytesIO, errors: str) -> io.TextIOWrapper:
    # what Python gives a process in UTF-8 mode: surrogateescape on stdin and stdout,
    # backslashreplace on stderr; write_through keeps the order of writes made through
    # another wrapper of the same buffer (Click's, for help and usage errors)
    return io.TextIOWrapper(buffer, encoding="utf-8", errors=errors, write_through=True)


def pipe_text(data: bytes) -> str:
    """The bytes as `subprocess.run(..., text=True)` hands them over: UTF-8, strict, with
    universal newlines (so that a converted test sees exactly what it saw before)."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _process_string(value: str | bytes) -> str:
    """A string (or bytes) as it reaches a new process's argv or environment."""
    raw = os.fsencode(value)
    if b"\0" in raw:
        raise ValueError("embedded null byte")  # as subprocess refuses it
    return os.fsdecode(raw)


class MockEnvironment(Environment):
    """An Environment on in-memory streams, with its own variables and cwd.

    stdin: text or bytes piped in (None: an empty stdin, as /dev/null); stdout and stderr
    are kept as bytes (`out_bytes`, `err_bytes`). `home` sets CLINVK_HOME. The variables
    are exactly `environ` (a new process does not inherit the test's), the default cwd
    is the test's."""

    def __init__(self, *, stdin: str | bytes | None = None,
                 environ: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 home: str | os.PathLike | None = None, stdin_isatty: bool = False,
                 stdout_isatty: bool = False) -> None:
        variables = {_process_string(k): _process_string(v) for k, v in (environ or {}).items()}
        if home is not None:
            variables["CLINVK_HOME"] = os.fspath(home)
        data = stdin.encode("utf-8") if isinstance(stdin, str) else (stdin or b"")
        self._out, self._err = io.BytesIO(), io.BytesIO()
        super().__init__(stdin=_text_stream(io.BytesIO(data), "surrogateescape"),
                         stdout=_text_stream(self._out, "surrogateescape"),
                         stderr=_text_stream(self._err, "backslashreplace"),
                         environ=variables, cwd=os.fsdecode(cwd or os.getcwd()),
                         stdin_isatty=stdin_isatty, stdout_isatty=stdout_isatty)

    @property
    def out_bytes(self) -> bytes:
        self.stdout.flush()
        return self._out.getvalue()

    @property
    def err_bytes(self) -> bytes:
        self.stderr.flush()
        return self._err.getvalue()


@contextmanager
def _process_state(env: Environment) -> Iterator[None]:
    """This process as a new `clinvk` process would be: streams, variables, cwd; all of it
    (and the signal handlers and mask) as it was again afterwards."""
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    saved_environ = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_handlers = {sig: signal.getsignal(sig) for sig in SIGNALS}
    saved_mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        os.chdir(env.cwd)
        env.cwd = os.getcwd()  # as the process would see it: symbolic links resolved
        os.environ.clear()
        os.environ.update(env.environ)
        sys.stdin, sys.stdout, sys.stderr = env.stdin, env.stdout, env.stderr
        with _no_terminal():
            yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.environ.clear()
        os.environ.update(saved_environ)
        os.chdir(saved_cwd)
        for sig, handler in saved_handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, saved_mask)


@contextmanager
def _no_terminal() -> Iterator[None]:
    """Descriptors 0-2 that are a terminal (pytest -s) become /dev/null for the call: a
    clinvk started with pipes sees no terminal size, and neither should this one."""
    saved: dict[int, int] = {}
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            if os.isatty(fd):
                saved[fd] = os.dup(fd)
                os.dup2(null, fd)
        yield
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def run_cli(argv: Sequence[str | bytes], env: MockEnvironment | None = None, **options: Any) -> Result:
    """Run `clinvk ARGV` in this process in `env` (or a MockEnvironment built from
    `options`: stdin, environ, cwd, home, stdin_isatty, stdout_isatty)."""
    if env is None:
        env = MockEnvironment(**options)
    elif options:
        raise TypeError("give an environment or its options, not both")
    args = [_process_string(arg) for arg in argv]  # a NUL is refused as exec would
    with _process_state(env):
        try:
            code = clinvk_entry(args, env)
        except SystemExit as exc:  # what the interpreter would make of it
            if exc.code is not None and not isinstance(exc.code, int):
                env.stderr.write(f"{exc.code}\n")
            code = 0 if exc.code is None else exc.code if isinstance(exc.code, int) else 1
        except Exception:  # CLINVK_DEBUG lets an internal error through: a traceback, 1
            env.stderr.write(traceback.format_exc())
            code = 1
    return Result(code & 0xFF, pipe_text(env.out_bytes), pipe_text(env.err_bytes),
                  env.out_bytes, env.err_bytes)

