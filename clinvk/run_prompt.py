"""What the root command does with its options, `clinvk [OPTIONS] [PROMPT]...`, and the steps
it shares with `resume`: the prompt read, the session to continue chosen, one turn run
(headless or interactive). Click-free: the Click command and clinvk.launch both call it."""

from __future__ import annotations

from clinvk.errors import UsageError
from clinvk.pty.signals import install

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from typing import Any

    from clinvk.app import App
    from clinvk.turn_options import RunOptions
    from clinvk.turn_plan import TurnSpec


def run_prompt(app: App, opts: RunOptions) -> int:
    """Run the root command's turn: a new session, or the one -c or auto_resume continues."""
    from clinvk.turn_plan import TurnSpec

    if opts.here and not opts.cont:
        raise UsageError("--here goes with -c/--continue (or use `clinvk resume --here`)")
    if opts.cont and opts.workdir:
        raise UsageError("-w/--workdir cannot be used with -c: a session runs in its own directory")
    if opts.cont and opts.new:
        raise UsageError("-c/--continue and --new exclude each other")
    if opts.cont and (opts.title is not None or opts.tags):
        raise UsageError("--title and -t name a new session, -c continues one (`clinvk sessions "
                         "rename` and `sessions tag` change an existing session)")
    app.changes_nothing = opts.turn.changes_nothing
    app.quiet_for(opts.turn.output_format)
    interactive = wants_interactive(app, opts.prompt)
    prompt = "" if interactive else require_prompt(app, opts.prompt)
    session = _session_to_continue(app, opts)
    app.close_store()  # no index connection held open while the backend runs
    backend = session["backend"] if session else (opts.backend or app.settings.get("default_backend"))
    app.settings.backend(backend)  # unknown or disabled backend → exit 2 before anything runs
    spec = TurnSpec(prompt=prompt, backend=backend, workdir=opts.workdir, session=session,
                    title=opts.title, tags=_checked_tags(opts.tags), **opts.turn.spec_fields())
    if interactive:
        return execute_interactive(app, spec)
    return execute(app, spec, opts.turn.output_format)


def execute(app: App, spec: TurnSpec, output_format: str | None) -> int:
    """Run one turn (its settings resolved by its TurnPlan) with the renderer the settings
    and flags ask for."""
    from clinvk.output import make_renderer
    from clinvk.turn import run_turn

    settings = app.settings
    fmt = output_format or settings.get("output.format")
    renderer = make_renderer(fmt, app.env.stdout, app.env.stderr,
                             show_tokens=settings.get("output.show_tokens"))
    run_turn(app, spec, renderer)
    return 0


def wants_interactive(app: App, words: tuple[str, ...] | list[str]) -> bool:
    """No PROMPT, stdin and stdout terminals: open the backend's own interface."""
    return not words and bool(app.env.stdin_isatty and app.env.stdout_isatty)


def execute_interactive(app: App, spec: TurnSpec) -> int:
    """Hand the terminal to the backend's interactive interface and record the session.

    Ctrl-C belongs to the backend: while it runs it is forwarded to it (clinvk.pty), and
    a late one, pressed as the backend exits (a TUI's "press Ctrl-C again to quit"), must
    not cut clinvk's recording short nor kill clinvk as it leaves: the handler stays until
    the process ends (the command is over; a wait for the store lock installs its own)."""
    import signal

    from clinvk import interactive_turn

    # a Python handler, not SIG_IGN: the backend, spawned meanwhile, gets default handling
    install({signal.SIGINT: _late_interrupt})
    return interactive_turn.run_interactive_session(app, spec)


def _late_interrupt(_signum: int, _frame: object) -> None:
    """Ctrl-C outside the backend's run: ignored, the session is being recorded."""


def require_prompt(app: App, words: tuple[str, ...]) -> str:
    from clinvk.prompt import read_prompt

    prompt = read_prompt(app.env, words)
    if prompt.strip():
        return prompt
    if app.env.stdin_isatty and app.env.stdout_isatty:
        raise UsageError("the prompt is empty: give a PROMPT, or none at all to open the "
                         "backend's interactive interface")
    raise UsageError("no prompt given: pass PROMPT as arguments or pipe it on stdin")


def _checked_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """The tags given, each storable (exit 2 before anything runs); none given, the store's
    rules are not even imported (a turn's launch path)."""
    if not tags:
        return ()
    from clinvk.words import check_tags

    return tuple(check_tags(tags))


def _session_to_continue(app: App, opts: RunOptions) -> dict[str, Any] | None:
    backend = opts.backend
    if backend:
        app.settings.backend(backend)
    if opts.cont:
        workdir = app.env.current_dir() if opts.here else None
        found = app.store.latest_resumable(working_dir=workdir, backend=backend)
        if found is None:
            where = " in this directory" if opts.here else ""
            which = f" for backend {backend}" if backend else ""
            raise UsageError(f"no session to continue{where}{which}: start one with `clinvk PROMPT`")
        return found
    new_session = opts.new or opts.workdir or opts.title is not None or opts.tags
    if app.settings.get("session.auto_resume") and not new_session:
        return app.store.latest_resumable(working_dir=app.env.current_dir(), backend=backend)
    return None
