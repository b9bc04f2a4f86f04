"""The `clinvk` command's entry: a plain `clinvk [OPTIONS] PROMPT` is read here and its turn
run without importing Click (the backend is spawned ~100 ms sooner: issue 9 §8); any other
command line goes to Click (clinvk.cli). Both end in clinvk.guard."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from clinvk.env import Environment
    from clinvk.run_argv import PlainRun


def run_cli(argv: list[str] | None = None, env: Environment | None = None) -> int:
    """Run the CLI in this process and return its exit code: the in-process entry (tests,
    embedding). Unlike main() it neither exits nor leaves a signal handler behind (an
    interactive run keeps its own for a late Ctrl-C until the process ends)."""
    import signal

    sigint = signal.getsignal(signal.SIGINT)
    try:
        return _dispatch(argv, env)
    finally:
        if sigint is not None and signal.getsignal(signal.SIGINT) is not sigint:
            try:
                signal.signal(signal.SIGINT, sigint)
            except ValueError:  # not in the main thread
                pass


def _dispatch(argv: list[str] | None, env: Environment | None) -> int:
    from clinvk.run_argv import read_plain_run

    args = list(sys.argv[1:] if argv is None else argv)
    plain = read_plain_run(args, os.environ if env is None else env.environ)
    if plain is None:
        from clinvk.cli import run_click

        return run_click(args, env)
    return _run_plain(plain, env)


def _run_plain(plain: PlainRun, env: Environment | None) -> int:
    """What Click's `run` command does with these options (clinvk.commands.run)."""
    from clinvk.app import App
    from clinvk.guard import guarded
    from clinvk.run_prompt import run_prompt

    app = App(env)
    if plain.config_path:
        app.config_flag = plain.config_path
    if plain.verbose:
        app.env.verbose = True
    if plain.options.turn.output_format in ("json", "stream-json"):
        app.quiet_progress = True
    return guarded(app, lambda: run_prompt(app, plain.options))


def main(argv: list[str] | None = None) -> None:
    """The `clinvk` command: run, flush, and leave without tearing the interpreter down.

    Everything clinvk keeps is written (atomically, fsync'ed) by the time the command
    returns, and the backend is reaped; the teardown of Click, sqlite and the rest takes
    tens of ms after the backend is done (more on a busy machine), which every turn would
    pay."""
    try:
        code = _dispatch(argv, None)
    except KeyboardInterrupt:  # Ctrl-C before a command's guard is in place (its imports)
        from clinvk.errors import ExitCode

        code = ExitCode.INTERRUPTED
        try:
            sys.stderr.write("clinvk: error: interrupted\n")
        except (OSError, ValueError, AttributeError):
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):  # AttributeError: closed (`>&-`): None
            pass
    os._exit(code)
