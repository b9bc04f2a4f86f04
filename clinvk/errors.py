"""The one error hierarchy of clinvk; the CLI catches ClinvkError once and exits with its code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    BACKEND_FAILED = 1
    USAGE = 2
    NOT_INSTALLED = 3
    TIMEOUT = 124
    INTERRUPTED = 130


class ClinvkError(Exception):
    """Base of every error clinvk reports; carries the process exit code."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(ClinvkError):
    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """Invalid configuration file or value."""


class SessionNotFound(UsageError):
    pass


class AmbiguousPrefix(UsageError):
    pass


class StoreError(ClinvkError):
    """The store could not be read or written (permissions, full disk, ...)."""

    exit_code = ExitCode.BACKEND_FAILED


class BackendFailed(ClinvkError):
    exit_code = ExitCode.BACKEND_FAILED


class BackendNotInstalled(ClinvkError):
    exit_code = ExitCode.NOT_INSTALLED


class TimedOut(ClinvkError):
    exit_code = ExitCode.TIMEOUT


class Interrupted(ClinvkError):
    exit_code = ExitCode.INTERRUPTED
