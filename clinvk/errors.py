"""The one error hierarchy of clinvk; the CLI catches ClinvkError once and exits with its code."""

from __future__ import annotations


class _Members(type):
    """ExitCode's metaclass: the class's upper-case int attributes become its members, as an
    IntEnum's would (`ExitCode(2) is ExitCode.USAGE`, `list(ExitCode)`, `.name`, `.value`),
    without the `enum` module: it and what it imports cost ~9 ms before every turn's spawn."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict) -> _Members:
        cls = super().__new__(mcs, name, bases, namespace)
        cls._members = {}
        for key, value in namespace.items():
            if key.isupper() and type(value) is int:
                member = int.__new__(cls, value)
                member._name = key
                setattr(cls, key, member)
                cls._members[value] = member
        return cls

    def __call__(cls, value: object) -> ExitCode:
        try:
            return cls._members[value]
        except (KeyError, TypeError):
            raise ValueError(f"{value!r} is not a valid {cls.__name__}") from None

    def __iter__(cls):
        return iter(cls._members.values())

    def __len__(cls) -> int:
        return len(cls._members)

    def __contains__(cls, value: object) -> bool:
        return isinstance(value, int) and value in cls._members


class ExitCode(int, metaclass=_Members):
    """The exit codes of SPEC: ints with names, used as an IntEnum is."""

    OK = 0
    BACKEND_FAILED = 1
    USAGE = 2
    NOT_INSTALLED = 3
    TIMEOUT = 124
    INTERRUPTED = 130

    @property
    def name(self) -> str:
        return self._name

    @property
    def value(self) -> int:
        return int(self)

    def __repr__(self) -> str:
        return f"<ExitCode.{self._name}: {int(self)}>"

    __str__ = int.__repr__  # as an IntEnum's (Python 3.11): the number


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


class OutputFailed(ClinvkError):
    """The reply could not be written (a full or closed stdout); the turn is recorded."""

    exit_code = ExitCode.BACKEND_FAILED


class BackendNotInstalled(ClinvkError):
    exit_code = ExitCode.NOT_INSTALLED


class TimedOut(ClinvkError):
    exit_code = ExitCode.TIMEOUT


class Interrupted(ClinvkError):
    exit_code = ExitCode.INTERRUPTED
