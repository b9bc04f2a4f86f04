"""The environment a command runs in: streams, terminal state, variables, cwd.

Commands never touch sys.stdin/stdout/stderr or os.environ directly; tests build an
Environment with their own streams (the httpie habit).
"""

from __future__ import annotations

import os
import sys

from clinvk.errors import UsageError
from clinvk.records import Record, factory

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import IO


def _getcwd() -> str | None:
    """The current directory; None when it cannot be read (removed under the shell)."""
    try:
        return os.getcwd()
    except OSError:
        return None


def _devnull(mode: str) -> IO[str]:
    """Where a standard stream clinvk was started without (`>&-`: sys.stdout is None) goes."""
    return open(os.devnull, mode, encoding="utf-8")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Environment(Record):
    stdin: IO[str] = factory(lambda: sys.stdin or _devnull("r"))
    stdout: IO[str] = factory(lambda: sys.stdout or _devnull("w"))
    stderr: IO[str] = factory(lambda: sys.stderr or _devnull("w"))
    environ: Mapping[str, str] = factory(lambda: dict(os.environ))
    cwd: str | None = factory(_getcwd)  # read through current_dir()
    stdin_isatty: bool | None = None
    stdout_isatty: bool | None = None
    verbose: bool = False
    _warned: set[str] = factory(set)

    def __post_init__(self) -> None:
        if self.stdin_isatty is None:
            self.stdin_isatty = _isatty(self.stdin)
        if self.stdout_isatty is None:
            self.stdout_isatty = _isatty(self.stdout)

    def current_dir(self) -> str:
        """The directory clinvk runs in; UsageError (exit 2) when it cannot be read: a
        command that needs none (list, show, ...) still works in a removed directory."""
        if self.cwd is None:
            raise UsageError("the current directory cannot be read (was it removed?): "
                             "cd to one that exists")
        return self.cwd

    def warn(self, message: str) -> None:
        """One `clinvk: warning:` line on stderr, never the same line twice per command."""
        if message in self._warned:
            return
        self._warned.add(message)
        from clinvk.display import printable  # its `re` is not imported before a turn's spawn

        self.stderr.write(f"clinvk: warning: {printable(message)}\n")
        self.stderr.flush()

    def info(self, message: str) -> None:
        """A diagnostic line on stderr, shown only with -v."""
        if self.verbose:
            from clinvk.display import printable

            self.stderr.write(f"clinvk: {printable(message)}\n")
            self.stderr.flush()
