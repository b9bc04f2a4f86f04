"""The options of the commands that run a turn (the root command and `resume`), each read
once from Click's parameters into a frozen object."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import click

PASSTHROUGH_KEY = "clinvk.passthrough"
F = TypeVar("F", bound=Callable[..., Any])


def _timeout_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    from clinvk.durations import parse_timeout

    return None if value is None else parse_timeout(value)


def turn_options(func: F) -> F:
    """Options shared by the root command and `resume`."""
    for decorator in reversed([
        click.option("-m", "--model", metavar="NAME", help="Model for the backend."),
        click.option("-o", "--output-format", type=click.Choice(["text", "json", "stream-json"]),
                     help="Output format (default output.format, else text)."),
        click.option("--ephemeral", is_flag=True, help="Record nothing under $CLINVK_HOME."),
        click.option("--dry-run", is_flag=True,
                     help="Print the backend command line; run and record nothing."),
        click.option("--timeout", callback=_timeout_option, metavar="SECONDS",
                     help="Stop the backend after this long (0 = none)."),
    ]):
        func = decorator(func)
    return func


@dataclass(frozen=True)
class TurnOptions:
    """turn_options' values, and the backend arguments given after `--`."""

    model: str | None
    output_format: str | None
    ephemeral: bool
    dry_run: bool
    timeout: float | None
    passthrough: tuple[str, ...]

    @property
    def changes_nothing(self) -> bool:
        return self.ephemeral or self.dry_run

    def spec_fields(self) -> dict[str, Any]:
        """The TurnSpec fields these options set."""
        return {"model": self.model, "ephemeral": self.ephemeral, "dry_run": self.dry_run,
                "timeout": self.timeout, "passthrough": self.passthrough}


T = TypeVar("T")


def from_click(cls: type[T], ctx: click.Context) -> T:
    """The command's parameters as `cls` (a frozen dataclass whose `turn` field takes the
    TurnOptions); a parameter `cls` does not name is a programming error (TypeError)."""
    params = dict(ctx.params)
    names = {f.name for f in fields(TurnOptions)} - {"passthrough"}
    turn = TurnOptions(passthrough=tuple(ctx.meta.get(PASSTHROUGH_KEY, ())),
                       **{name: params.pop(name) for name in names})
    return cls(turn=turn, **params)  # type: ignore[call-arg]


@dataclass(frozen=True)
class RunOptions:
    """The root command's options: `clinvk [OPTIONS] [PROMPT]... [-- BACKEND_ARGS]`."""

    backend: str | None
    workdir: str | None
    cont: bool
    here: bool
    new: bool
    title: str | None
    tags: tuple[str, ...]
    prompt: tuple[str, ...]
    turn: TurnOptions


@dataclass(frozen=True)
class ResumeOptions:
    """`clinvk resume`'s options."""

    last: bool
    here: bool
    backend: str | None
    pick: bool
    fork: bool
    to_backend: str | None
    words: tuple[str, ...]
    turn: TurnOptions
