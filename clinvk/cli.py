"""The root Click group and its lazy subcommands: every command line but the plain run form
(clinvk.launch reads that one itself)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from clinvk import __version__
from clinvk.guard import guarded
from clinvk.lazy_group import LazyGroup, load

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.env import Environment

SUBCOMMANDS: dict[str, str] = {
    "resume": "clinvk.commands.resume:resume",
    "sessions": "clinvk.commands.sessions:sessions",
    "config": "clinvk.commands.config_cmd:config",
    "backends": "clinvk.commands.backends_cmd:backends",
}
RUN_COMMAND = "clinvk.commands.run:run"
# what Click (8.2 on) raises for a group run with no subcommand: its help as the message
_HELP_AS_ERROR = getattr(click.exceptions, "NoArgsIsHelpError", ())
# Short help of each subcommand for `clinvk --help`, so that the help does not import every
# command module (backends pulls in subprocess and concurrent.futures): startup time.
# tests/test_sessions_cli.py checks them against the commands' own docstrings.
SHORT_HELP: dict[str, str] = {
    "resume": "Continue a session: ID (or unique prefix), --last, --here, or pick one with -i.",
    "sessions": "List, show, delete and clean recorded sessions.",
    "config": "Show the effective configuration, the file in use, or write an example file.",
    "backends": "List each backend: installed or not, path, version.",
}


class RootGroup(LazyGroup):
    """`clinvk [OPTIONS] [PROMPT]...` and `clinvk COMMAND ...` in one entry point.

    Anything whose first word is not a subcommand is handed to the hidden `run` command.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, lazy=SUBCOMMANDS, summaries=SHORT_HELP, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(SUBCOMMANDS)  # in this order, not sorted

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "run":
            return load(RUN_COMMAND)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in ("--help", "-h", "--version"):
            return super().parse_args(ctx, args)
        given: list = []
        start = 0
        if args and args[0].startswith("-"):
            from clinvk.global_opts import option_table, read_options

            given, start = read_options(args, option_table(load(RUN_COMMAND).params))
        if start < len(args) and args[start] in SUBCOMMANDS:
            return super().parse_args(ctx, self._to_subcommand(ctx, args[start:], given))
        return super().parse_args(ctx, ["run", *args])

    def _to_subcommand(self, ctx: click.Context, args: list[str], given: list) -> list[str]:
        """`sessions list ARGS` with the root options `given` before it moved after the
        deepest command named (`sessions list`), where they mean what they mean there."""
        if not given:
            return args
        from clinvk.global_opts import forward

        command, depth = self.get_command(ctx, args[0]), 1
        while isinstance(command, click.Group) and depth < len(args):
            sub = command.get_command(ctx, args[depth])
            if sub is None:
                break
            command, depth = sub, depth + 1
        assert command is not None
        moved = forward(given, command, " ".join(args[:depth]))
        return [*args[:depth], *moved, *args[depth:]]

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        run = load(RUN_COMMAND)
        with click.Context(run, info_name=ctx.info_name, parent=None) as run_ctx:
            formatter.write_usage(ctx.info_name or "clinvk", "[OPTIONS] [PROMPT]... [-- BACKEND_ARGS]")
            formatter.write_usage(ctx.info_name or "clinvk", "COMMAND [ARGS]...", prefix="   or: ")
            run.format_help_text(run_ctx, formatter)
            _format_run_options(run, run_ctx, formatter)
        self.format_commands(ctx, formatter)
        with formatter.section("Exit codes"):
            formatter.write_dl(
                [("0", "success"), ("1", "the backend failed"), ("2", "usage error"),
                 ("3", "backend CLI not installed"), ("124", "--timeout expired"),
                 ("130", "interrupted")]
            )


def _format_run_options(run: click.Command, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """run's options as `run.format_options` lists them for a context without settings (the
    help option: `--help`), but without creating run's help option: Click keeps the first
    one made on the command, and `-h` of a later in-process `clinvk -m x -h` would be lost."""
    rows = [row for param in run.params if (row := param.get_help_record(ctx)) is not None]
    rows.append(("--help", "Show this message and exit."))
    with formatter.section("Options"):
        formatter.write_dl(rows)


@click.group(cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="clinvk", message="%(prog)s %(version)s")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run prompts on claude, codex or gemini and resume them from any shell."""


def run_click(argv: list[str], env: Environment | None) -> int:
    """Read `argv` with Click, run the command, and return its exit code (clinvk.guard)."""
    from clinvk.app import App

    app = App(env)
    return guarded(app, lambda: _click_main(app, argv))


def _click_main(app: App, argv: list[str]) -> int | None:
    """Click's own outcomes: --help and --version, its usage errors, its abort."""
    try:
        return cli.main(args=argv, prog_name="clinvk", standalone_mode=False, obj=app)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        from clinvk.display import printable

        # Click quotes what the user typed; a group run bare raises its help as the message
        exc.message = printable(exc.message, lines=isinstance(exc, _HELP_AS_ERROR))
        exc.show(file=app.env.stderr)
        return exc.exit_code
    except click.Abort:
        raise KeyboardInterrupt from None
    except SystemExit:  # Click's own answer to a reader that went away (EPIPE): sys.exit(1)
        raise BrokenPipeError from None
