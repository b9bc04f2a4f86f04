"""`clinvk resume [ID] [PROMPT]...`: continue a recorded session in its own directory."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, not_empty, pass_app
from clinvk.commands.run import PassthroughCommand, from_click, turn_options
from clinvk.errors import UsageError
from clinvk.run_prompt import execute, execute_interactive, require_prompt, wants_interactive
from clinvk.turn_options import ResumeOptions

PICKER_ROWS = 20


@click.command("resume", cls=PassthroughCommand,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--last", is_flag=True, help="The most recent resumable session.")
@click.option("--here", is_flag=True, help="Only sessions whose directory is the cwd.")
@click.option("-b", "--backend", metavar="NAME", callback=not_empty,
              help="Only sessions of this backend.")
@click.option("-i", "--interactive", "pick", is_flag=True, help="Pick a session from a numbered list.")
@click.option("--fork", is_flag=True, help="Start a new session from a copy of this one's conversation.")
@click.option("--to", "to_backend", metavar="BACKEND", callback=not_empty,
              help="Hand the conversation over to another backend (a new session).")
@turn_options
@common_options
@click.argument("words", nargs=-1, metavar="[ID] [PROMPT]...")
@pass_app
@click.pass_context
def resume(ctx: click.Context, app: App, **_params: Any) -> int:
    """Continue a session: ID (or unique prefix), --last, --here, or pick one with -i.

    The backend always runs in the session's own working directory.
    """
    from clinvk.turn_plan import TurnSpec

    opts = from_click(ResumeOptions, ctx)
    words = list(opts.words)
    app.changes_nothing = opts.turn.changes_nothing
    app.quiet_for(opts.turn.output_format)
    session = _select(app, opts, words)
    app.close_store()  # no index connection held open while the backend runs
    if session is None:
        return 0
    if opts.fork or opts.to_backend:
        return _branch(app, opts, session, words)
    interactive = wants_interactive(app, words)
    prompt = "" if interactive else require_prompt(app, tuple(words))
    spec = TurnSpec(prompt=prompt, backend=session["backend"], session=session,
                    **opts.turn.spec_fields())
    if interactive:
        return execute_interactive(app, spec)
    return execute(app, spec, opts.turn.output_format)


def _branch(app: App, opts: ResumeOptions, session: dict[str, Any], words: list[str]) -> int:
    """`--fork` and `--to BACKEND`: a new session that starts from this one's conversation."""
    from clinvk.handoff import fork_spec, handoff_spec

    if opts.fork and opts.to_backend:
        raise UsageError("--fork and --to exclude each other")
    interactive = wants_interactive(app, words)
    prompt = "" if interactive else require_prompt(app, tuple(words))
    turn = opts.turn.spec_fields()
    if opts.fork:
        spec = fork_spec(session, prompt, **turn)
    else:
        spec = handoff_spec(app, session, opts.to_backend, prompt, **turn)
    if interactive:  # the new session opens in the backend's own interface
        return execute_interactive(app, spec)
    return execute(app, spec, opts.turn.output_format)


def _select(app: App, opts: ResumeOptions, words: list[str]) -> dict[str, Any] | None:
    """The session to resume; consumes the ID from `words` when one is given."""
    backend = opts.backend
    if backend:
        app.settings.backend(backend)
    workdir = app.env.current_dir() if opts.here else None
    if opts.pick:
        return _pick(app, workdir, backend)
    if opts.last or opts.here:
        found = app.store.latest_resumable(working_dir=workdir, backend=backend)
        if found is None:
            where = " in this directory" if workdir else ""
            which = f" for backend {backend}" if backend else ""
            raise UsageError(f"no resumable session{where}{which}")
        return found
    if words:
        session = app.store.get(words.pop(0))
        if backend and session["backend"] != backend:
            raise UsageError(f"session {session['id'][:8]} is a {session['backend']} session, "
                             f"not {backend}")
        return session
    if app.env.stdin_isatty:
        return _pick(app, workdir, backend)
    raise UsageError("which session? give an ID (or prefix), --last, --here, or -i on a terminal")


def _pick(app: App, workdir: str | None, backend: str | None) -> dict[str, Any] | None:
    """A numbered list on the terminal; the user types a number."""
    if not app.env.stdin_isatty:
        raise UsageError("the session picker (-i) needs a terminal on stdin")
    from clinvk.commands.session_rows import format_rows

    found = app.store.list(working_dir=workdir, backend=backend, resumable=True, limit=PICKER_ROWS)
    if not found:
        raise UsageError("no resumable session to pick from")
    out = app.env.stderr
    for number, line in enumerate(format_rows(found, app.env), start=1):
        out.write(f"{number:>3}  {line}\n")
    out.write(f"Resume which session? [1-{len(found)}, Enter to cancel] ")
    out.flush()
    answer = app.env.stdin.readline().strip()
    if not answer:
        return None
    if not answer.isdigit() or not 1 <= int(answer) <= len(found):
        raise UsageError(f"not a number between 1 and {len(found)}: {answer!r}")
    return found[int(answer) - 1]
