"""`clinvk [OPTIONS] [PROMPT]... [-- BACKEND_ARGS]`: run a prompt and record the session; the
options of the commands that run a turn (the root command and `resume`), each read once from
Click's parameters into a frozen object."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from clinvk.app import App
from clinvk.commands import common_options, pass_app
from clinvk.errors import UsageError
from clinvk.pty.signals import install
from clinvk.records import Record

if TYPE_CHECKING:
    from clinvk.turn_plan import TurnSpec

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


class TurnOptions(Record, frozen=True):
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
    """The command's parameters as `cls` (a frozen Record whose `turn` field takes the
    TurnOptions); a parameter `cls` does not name is a programming error (TypeError)."""
    params = dict(ctx.params)
    names = set(TurnOptions._fields) - {"passthrough"}
    turn = TurnOptions(passthrough=tuple(ctx.meta.get(PASSTHROUGH_KEY, ())),
                       **{name: params.pop(name) for name in names})
    return cls(turn=turn, **params)  # type: ignore[call-arg]


class RunOptions(Record, frozen=True):
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


class ResumeOptions(Record, frozen=True):
    """`clinvk resume`'s options."""

    last: bool
    here: bool
    backend: str | None
    pick: bool
    fork: bool
    to_backend: str | None
    words: tuple[str, ...]
    turn: TurnOptions


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


@click.command("run", cls=PassthroughCommand, hidden=True,
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-b", "--backend", metavar="NAME", help="Backend (default default_backend, else claude).")
@click.option("-w", "--workdir", metavar="DIR", help="Directory the backend runs in (default: cwd).")
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
    from clinvk.turn_plan import TurnSpec

    opts = from_click(RunOptions, ctx)
    if opts.here and not opts.cont:
        raise UsageError("--here goes with -c/--continue (or use `clinvk resume --here`)")
    if opts.cont and opts.workdir:
        raise UsageError("-w/--workdir cannot be used with -c: a session runs in its own directory")
    if opts.cont and opts.new:
        raise UsageError("-c/--continue and --new exclude each other")
    app.changes_nothing = opts.turn.changes_nothing
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


def _checked_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """The tags given, each storable (exit 2 before anything runs); none given, the store's
    rules are not even imported (a turn's launch path)."""
    if not tags:
        return ()
    from clinvk.organise import check_tags

    return tuple(check_tags(tags))


def _session_to_continue(app: App, opts: RunOptions) -> dict[str, Any] | None:
    backend = opts.backend
    if backend:
        app.settings.backend(backend)
    if opts.cont:
        workdir = app.env.cwd if opts.here else None
        found = app.store.latest_resumable(working_dir=workdir, backend=backend)
        if found is None:
            where = " in this directory" if opts.here else ""
            which = f" for backend {backend}" if backend else ""
            raise UsageError(f"no session to continue{where}{which}: start one with `clinvk PROMPT`")
        return found
    if app.settings.get("session.auto_resume") and not opts.new and not opts.workdir:
        return app.store.latest_resumable(working_dir=app.env.cwd, backend=backend)
    return None
