"""`clinvk [OPTIONS] [PROMPT]... [-- BACKEND_ARGS]`: run a prompt and record the session; the
Click options of the commands that run a turn (the root command and `resume`), read once
into clinvk.turn_options' frozen objects. What the command does is clinvk.run_prompt's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from clinvk.app import App
from clinvk.commands import common_options, not_empty, pass_app
from clinvk.output import FORMATS
from clinvk.run_prompt import run_prompt
from clinvk.turn_options import RunOptions, TurnOptions

PASSTHROUGH_KEY = "clinvk.passthrough"
F = TypeVar("F", bound=Callable[..., Any])


def _timeout_option(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:  # no import of the durations (and datetime) module before a turn spawns
        return None
    from clinvk.durations import parse_timeout

    return parse_timeout(value)


def turn_options(func: F) -> F:
    """Options shared by the root command and `resume`."""
    for decorator in reversed([
        click.option("-m", "--model", metavar="NAME", callback=not_empty,
                     help="Model for the backend."),
        click.option("-o", "--output-format", type=click.Choice(list(FORMATS)),
                     help="Output format (default output.format, else text)."),
        click.option("--ephemeral", is_flag=True, help="Record nothing under $CLINVK_HOME."),
        click.option("--dry-run", is_flag=True,
                     help="Print the backend command line; run and record nothing."),
        click.option("--timeout", callback=_timeout_option, metavar="SECONDS",
                     help="Stop the backend after this long (0 = none)."),
    ]):
        func = decorator(func)
    return func


T = TypeVar("T")


def from_click(cls: type[T], ctx: click.Context) -> T:
    """The command's parameters as `cls` (a frozen Record whose `turn` field takes the
    TurnOptions); a parameter `cls` does not name is a programming error (TypeError)."""
    params = dict(ctx.params)
    names = set(TurnOptions._fields) - {"passthrough"}
    turn = TurnOptions(passthrough=tuple(ctx.meta.get(PASSTHROUGH_KEY, ())),
                       **{name: params.pop(name) for name in names})
    return cls(turn=turn, **params)  # type: ignore[call-arg]


class PassthroughCommand(click.Command):
    """Everything after a bare `--` goes to the backend CLI unchanged."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        if parent is not None and info_name == "run":  # the root command: say `clinvk`, not `run`
            extra.setdefault("obj", parent.obj)
            return super().make_context(parent.info_name, args, parent=None, **extra)
        return super().make_context(info_name, args, parent=parent, **extra)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta[PASSTHROUGH_KEY] = tuple(args[cut + 1 :])
            args = args[:cut]
        return super().parse_args(ctx, args)


@click.command("run", cls=PassthroughCommand, hidden=True,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-b", "--backend", metavar="NAME", callback=not_empty,
              help="Backend (default default_backend, else claude).")
@click.option("-w", "--workdir", metavar="DIR", callback=not_empty,
              help="Directory the backend runs in (default: cwd).")
@click.option("-c", "--continue", "cont", is_flag=True, help="Continue the most recent session.")
@click.option("--here", is_flag=True, help="With -c: only sessions of the current directory.")
@click.option("--new", is_flag=True, help="Start a new session even with session.auto_resume.")
@click.option("--title", metavar="TEXT", help="Title of the new session.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Add a tag (repeatable).")
@turn_options
@common_options
@click.argument("prompt", nargs=-1)
@pass_app
@click.pass_context
def run(ctx: click.Context, app: App, **_params: Any) -> int:
    """Run PROMPT on claude, codex or gemini and record the session.

    PROMPT words are joined by spaces; piped stdin is added to them. Everything after
    `--` is passed to the backend CLI unchanged.
    """
    return run_prompt(app, from_click(RunOptions, ctx))
