"""One headless turn: adapter builds argv → runner streams lines → adapter parses events →
renderer shows them → recorder keeps the session. Click-free; the CLI and clinvk.api call it."""

from __future__ import annotations

import os
import stat

from clinvk.backends.base import (
    BackendError,
    Diagnostic,
    Done,
    SessionStarted,
    TextDelta,
    Usage,
    UsageReport,
)
from clinvk.errors import BackendFailed, ClinvkError, ExitCode, Interrupted, TimedOut
from clinvk.turn_plan import TurnPlan, TurnSpec

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from typing import Any

    from clinvk.app import App
    from clinvk.output import Renderer
    from clinvk.recorder import Recorder


class _State:
    """What the events of one run told us. (A plain class: a dataclass costs its creation
    before the spawn.)"""

    def __init__(self, keep_content: bool) -> None:
        self.keep_content = keep_content
        self.backend_session_id: str | None = None
        self.model: str | None = None
        self.usage: Usage | None = None
        self.cost_usd: float | None = None
        self.fatal: list[str] = []
        self.content: list[str] = []
        self.final_text: str | None = None
        self.streamed = False


def run_turn(app: App, spec: TurnSpec, renderer: Renderer) -> dict[str, Any]:
    """Run one turn and return the fields of `-o json`; raise ClinvkError when it failed."""
    from clinvk.output import GuardedOutput

    plan = TurnPlan(app, spec)
    try:
        return _run_planned(app, spec, plan, GuardedOutput(renderer))
    finally:
        plan.cleanup()


def _run_planned(app: App, spec: TurnSpec, plan: TurnPlan, renderer: Renderer) -> dict[str, Any]:
    """Spawn the backend as soon as its argv is known. Only what the argv needs comes
    first: the plan, and for a resumed session its record (read by the caller) and the
    usage baseline from the backend's files. The store, the session record and the renderer
    are set up once the backend has output (`prepare`): it then waits for its API, whereas
    while it starts (hundreds of ms) it wants the CPU that clinvk's setup would take."""
    env = app.env
    stdin = plan.adapter.stdin_input(plan.request)  # a prompt too long to be an argument
    if spec.dry_run:
        env.stdout.write(plan.shell_line(env.cwd, stdin) + "\n")
        return {}
    argv = [plan.executable(), *plan.argv[1:]]
    if env.verbose:
        env.info(f"running: {plan.shell_line(env.cwd, stdin)}")
    state = _State(keep_content=renderer.keeps_content)
    parser = plan.adapter.new_parser(_baseline(plan, spec))
    recorder: Recorder | None = None

    def prepare() -> None:
        nonlocal recorder
        if not spec.ephemeral:  # fails here, as the first write would
            app.store.open()
        recorder = plan.recorder(spec.prompt, plan.model)
        renderer.start(recorder.session_id, spec.backend)

    def on_line(line: str) -> None:
        for event in parser.feed(line):
            _handle(event, state, renderer, recorder, env)
            if isinstance(event, Done):  # while it exits: what the end needs (not after the run)
                recorder.turn_done()

    from clinvk.pty.fork import SpawnError
    from clinvk.pty.runner import run_lines

    if not spec.ephemeral and not _store_usable(app.settings.home_text):
        app.store.check_writable()  # a broken store fails here, before the backend starts
    plan.tidy_store()
    try:
        result = run_lines(argv, cwd=plan.workdir, env=plan.environ, on_line=on_line,
                           timeout=plan.timeout or None, stdin=stdin, prepare=prepare)
    except SpawnError as exc:
        raise plan.not_runnable(exc) from None
    plan.tidy_store()
    assert recorder is not None  # run_lines calls prepare before any line and at the end
    for event in parser.finish(result.exit_code if result.signal is None else -result.signal):
        _handle(event, state, renderer, recorder, env)
    return _conclude(plan, state, result, renderer, recorder)


def _store_usable(home: str) -> bool:
    """The common case of SessionStore.check_writable, told by three system calls without
    importing the store: home and sessions/ are folders (sessions/ no symlink) and
    sessions/ can be read and written. False: let check_writable decide (and explain)."""
    root = os.path.join(home, "sessions")  # paths.sessions_dir, without pathlib
    try:
        mode = os.lstat(root).st_mode
    except OSError:
        return False
    return (stat.S_ISDIR(mode) and os.path.isdir(home)
            and os.access(root, os.R_OK | os.W_OK | os.X_OK))


def _baseline(plan: TurnPlan, spec: TurnSpec) -> Usage | None:
    """The running total a cumulative-usage backend starts this turn from."""
    if spec.session is None or not plan.adapter.reports_running_totals:
        return None
    found = plan.adapter.usage_baseline(plan.request.resume_id or "", plan.workdir, plan.environ)
    if found is not None:
        return found
    return Usage.from_dict(spec.session.get("token_usage"))


def _handle(event: object, state: _State, renderer: Renderer, recorder: Recorder, env) -> None:
    if isinstance(event, TextDelta):
        state.streamed = True
        if state.keep_content:
            state.content.append(event.text)
        renderer.text(event.text)
    elif isinstance(event, SessionStarted):
        state.backend_session_id = event.backend_session_id
        state.model = event.model or state.model
        recorder.started(event.backend_session_id, event.model)
    elif isinstance(event, UsageReport):
        state.usage = event.usage if state.usage is None else state.usage + event.usage
        if event.cost_usd is not None:
            state.cost_usd = (state.cost_usd or 0.0) + event.cost_usd
        state.model = event.model or state.model
        renderer.usage(event.usage.to_dict())
    elif isinstance(event, BackendError):
        if event.fatal:
            state.fatal.append(event.message)
            renderer.error(event.message)
        else:
            env.info(f"backend warning: {event.message}")
    elif isinstance(event, Done):
        if event.text is not None:
            state.final_text = event.text
    elif isinstance(event, Diagnostic) and event.line.strip():
        env.info(f"backend: {event.line}")


def _outcome(plan: TurnPlan, state: _State, result) -> tuple[str, str | None, ExitCode]:
    if result.timed_out:
        return "error", f"timed out after {plan.timeout:g}s", ExitCode.TIMEOUT
    if result.interrupted:
        return "interrupted", "interrupted", ExitCode.INTERRUPTED
    if state.fatal:
        return "error", state.fatal[-1], ExitCode.BACKEND_FAILED
    if result.exit_code not in (0, None) or result.signal is not None:
        code = result.exit_code if result.signal is None else f"signal {result.signal}"
        return "error", f"backend exited with code {code}", ExitCode.BACKEND_FAILED
    return "active", None, ExitCode.OK


def _conclude(plan: TurnPlan, state: _State, result, renderer, recorder) -> dict[str, Any]:
    spec = plan.spec
    status, error, code = _outcome(plan, state, result)
    usage = state.usage.to_dict() if state.usage is not None else None
    if not state.streamed and state.final_text and code == ExitCode.OK:
        renderer.text(state.final_text)
        if state.keep_content:
            state.content.append(state.final_text)
    record = recorder.finish(
        prompt=plan.said, duration_ms=result.duration_ms, exit_code=int(code),
        usage=usage, cost_usd=state.cost_usd, status=status, error=error,
    )
    if recorder.interrupted:  # Ctrl-C while the finished turn waited for the store
        error, code = "interrupted", ExitCode.INTERRUPTED
    out = {
        "session_id": recorder.session_id,
        "backend": spec.backend,
        "backend_session_id": state.backend_session_id or record.get("backend_session_id"),
        "model": state.model or record.get("model") or plan.model,
        "content": "".join(state.content),
        "usage": usage,
        "cost_usd": state.cost_usd,
        "duration_ms": result.duration_ms,
        "exit_code": int(code),
        "error": error,
    }
    renderer.done(out)
    if code != ExitCode.OK:
        raise _failure(code, f"{spec.backend}: {error}", out)
    renderer.check(recorder.session_id)  # a write that failed: now that the turn is kept
    return out


def _failure(code: ExitCode, message: str, result: dict[str, Any]) -> ClinvkError:
    cls = {ExitCode.TIMEOUT: TimedOut, ExitCode.INTERRUPTED: Interrupted}.get(code, BackendFailed)
    err = cls(message)
    err.result = result  # type: ignore[attr-defined]
    return err
