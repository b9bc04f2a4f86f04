"""Entry point: the root Click group, lazy subcommands, and the one top-level error handler."""

from __future__ import annotations

import os
import sys
from typing import IO, TYPE_CHECKING, Any

import click

from clinvk import __version__
from clinvk.errors import ClinvkError, ExitCode
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


def _report(app: App, message: str, code: int) -> int:
    from clinvk.display import printable

    # line breaks kept: an ambiguous prefix lists its candidates one per line
    app.env.stderr.write(f"clinvk: error: {printable(message, lines=True)}\n")
    return code


def run_cli(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI in this process and return its exit code: the in-process entry (tests,
    embedding). Unlike main() it neither exits nor leaves a signal handler behind (an
    interactive run keeps its own for a late Ctrl-C until the process ends)."""
    import signal

    sigint = signal.getsignal(signal.SIGINT)
    try:
        return _run(argv, env)
    finally:
        if sigint is not None and signal.getsignal(signal.SIGINT) is not sigint:
            try:
                signal.signal(signal.SIGINT, sigint)
            except ValueError:  # not in the main thread
                pass


def _run(argv: list[str] | None, env: Environment | None) -> int:
    """Run the CLI and return its exit code; every error ends here as one stderr line."""
    from clinvk.app import App

    app = App(env)
    try:
        code = cli.main(args=argv, prog_name="clinvk", standalone_mode=False, obj=app)
        if not isinstance(code, int):
            code = ExitCode.OK
        if code == ExitCode.OK:
            app.after_command()
        return int(code)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        from clinvk.display import printable

        exc.message = printable(exc.message)  # Click quotes what the user typed
        exc.show(file=app.env.stderr)
        return exc.exit_code
    except click.Abort:
        return _report(app, "interrupted", ExitCode.INTERRUPTED)
    except ClinvkError as exc:
        return _report(app, exc.message, exc.exit_code)
    except KeyboardInterrupt:
        return _report(app, "interrupted", ExitCode.INTERRUPTED)
    except BrokenPipeError:
        _silence(app.env.stdout)
        return ExitCode.OK
    except Exception as exc:  # the last line of defence: never a traceback
        if app.env.environ.get("CLINVK_DEBUG"):
            raise
        return _report(app, f"internal error: {type(exc).__name__}: {exc}", ExitCode.BACKEND_FAILED)
    finally:
        _close_store(app)
        try:
            app.env.stdout.flush()
        except (BrokenPipeError, ValueError):
            _silence(app.env.stdout)


def _close_store(app: App) -> None:
    """Close the index (its last connection folds sqlite's write-ahead log back into the
    file): main() leaves with os._exit, which would leave the -wal and -shm files behind."""
    try:
        app.close_store()
    except Exception:  # closing never fails a command that has run
        pass


def _silence(stdout: IO[str]) -> None:
    """A reader that went away: later writes (the interpreter's own flush) go nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> None:
    """The `clinvk` command: run, flush, and leave without tearing the interpreter down.

    Everything clinvk keeps is written (atomically, fsync'ed) by the time _run returns,
    and the backend is reaped; the teardown of Click, pexpect and the rest takes tens of ms
    after the backend is done (more on a busy machine), which every turn would pay."""
    code = _run(argv, None)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
