"""One headless turn: adapter builds argv → runner streams lines → adapter parses events →
renderer shows them → recorder keeps the session. Click-free; the CLI and clinvk.api call it."""

from __future__ import annotations

import os
import shutil
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clinvk.backends.base import (
    BackendError,
    Diagnostic,
    Done,
    SessionStarted,
    TextDelta,
    TurnRequest,
    Usage,
    UsageReport,
)
from clinvk.errors import (
    BackendFailed,
    BackendNotInstalled,
    ClinvkError,
    ExitCode,
    Interrupted,
    TimedOut,
    UsageError,
)

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.output import Renderer
    from clinvk.recorder import Recorder


@dataclass
class TurnSpec:
    """What to run: a prompt on a backend, new or continuing `session`."""

    prompt: str
    backend: str
    model: str | None = None
    workdir: str | None = None
    session: dict[str, Any] | None = None
    ephemeral: bool = False
    dry_run: bool = False
    timeout: float | None = None
    title: str | None = None
    tags: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    fork: bool = False  # with `session`: a new session whose conversation starts as its copy
    parent_id: str | None = None  # of a new session (fork, hand-over)
    metadata: dict[str, str] | None = None  # of a new session
    stored_prompt: str | None = None  # the prompt recorded in the turn (default: `prompt`)


@dataclass
class _State:
    """What the events of one run told us."""

    keep_content: bool
    backend_session_id: str | None = None
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    fatal: list[str] = field(default_factory=list)
    content: list[str] = field(default_factory=list)
    final_text: str | None = None
    streamed: bool = False
    diagnostics: deque[str] = field(default_factory=lambda: deque(maxlen=5))


class _Plan:
    """The resolved pieces of a turn: settings, adapter, argv, directory, environment."""

    def __init__(self, app: App, spec: TurnSpec) -> None:
        from clinvk.backends import get_adapter
        from clinvk.prompt import clean_spec, refuse_unstorable

        clean_spec(spec, app.env)  # no NUL or undecodable byte reaches the backend or store
        settings = app.settings
        self.conf = settings.backend(spec.backend)
        self.adapter = get_adapter(settings.adapter_name(spec.backend))
        session = spec.session
        if session is not None:
            self.workdir = session["working_dir"]
            resume_id = session.get("backend_session_id")
            if not resume_id:
                raise UsageError(f"session {session['id'][:8]} has no backend session id "
                                 "(its first turn never started): it cannot be resumed")
            if not os.path.isdir(self.workdir):
                raise UsageError(f"the working directory of session {session['id'][:8]}, "
                                 f"{self.workdir}, no longer exists")
        else:
            resume_id = None
            self.workdir = os.path.abspath(os.path.join(app.env.cwd, spec.workdir or "."))
            if not os.path.isdir(self.workdir):
                raise UsageError(f"working directory {self.workdir} does not exist")
        self.model = spec.model or settings.model_override or self.conf.get("model")
        if not spec.ephemeral:  # what the record would hold and cannot be replaced: exit 2
            refuse_unstorable(self.workdir, self.model)
        self.request = TurnRequest(
            prompt=spec.prompt, command=self.conf["command"], model=self.model,
            working_dir=self.workdir, resume_id=resume_id,
            extra_flags=list(self.conf.get("extra_flags") or []),
            passthrough=list(spec.passthrough),
        )
        self.environ = {**app.env.environ, **(self.conf.get("env") or {})}
        self.scratch: str | None = None
        if spec.fork and session is not None:
            self._prepare_fork(spec)
        self.argv = self.adapter.build_argv(self.request)

    def _prepare_fork(self, spec: TurnSpec) -> None:
        """Let the adapter copy what the fork needs (nothing for a dry run)."""
        self.request.fork = True
        if spec.dry_run:
            return
        import tempfile
        from pathlib import Path

        self.scratch = tempfile.mkdtemp(prefix="clinvk-fork-")
        try:
            self.request.resume_id = self.adapter.prepare_fork(
                self.request.resume_id or "", self.workdir, self.environ, Path(self.scratch))
        except (ValueError, OSError) as exc:
            self.cleanup()
            raise UsageError(f"cannot fork session {spec.session['id'][:8]}: {exc}") from None

    def tidy_store(self) -> None:
        """The adapter's optional repair of the backend's own store, before and after a run."""
        try:
            self.adapter.tidy_store(self.workdir, self.environ)
        except OSError:
            pass

    def cleanup(self) -> None:
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def shell_line(self, cwd: str, stdin: bytes | None = None) -> str:
        """The command line, quoted so that it prints nothing raw and pastes back exactly."""
        from clinvk.display import shell_line, shell_quote

        line = shell_line(self.argv)
        if stdin is not None:
            line += f" < (prompt on stdin, {len(stdin)} bytes)"
        return line if self.workdir == cwd else f"cd {shell_quote(self.workdir)} && {line}"

    def executable(self) -> str:
        path = shutil.which(self.argv[0], path=self.environ.get("PATH"))
        if path is None:
            raise BackendNotInstalled(
                f"`{self.argv[0]}` not found on PATH: the {self.adapter.name} CLI is not "
                f"installed (install it with: {self.adapter.install_hint})"
            )
        return path


def run_turn(app: App, spec: TurnSpec, renderer: Renderer) -> dict[str, Any]:
    """Run one turn and return the fields of `-o json`; raise ClinvkError when it failed."""
    plan = _Plan(app, spec)
    try:
        return _run_planned(app, spec, plan, renderer)
    finally:
        plan.cleanup()


def _run_planned(app: App, spec: TurnSpec, plan: _Plan, renderer: Renderer) -> dict[str, Any]:
    """Spawn the backend as soon as its argv is known; it takes hundreds of milliseconds
    to start, and the session record, the store and the renderer are set up meanwhile
    (`on_spawn`). Only what the argv needs comes first: the plan, and for a resumed session
    its record (read by the caller) and the usage baseline from the backend's files."""
    env = app.env
    stdin = plan.adapter.stdin_input(plan.request)  # a prompt too long to be an argument
    if spec.dry_run:
        env.stdout.write(plan.shell_line(env.cwd, stdin) + "\n")
        return {}
    argv = [plan.executable(), *plan.argv[1:]]
    env.info(f"running: {plan.shell_line(env.cwd, stdin)}")
    state = _State(keep_content=renderer.keeps_content)
    parser = plan.adapter.new_parser(_baseline(plan, spec))
    recorder: Recorder | None = None

    def on_spawn() -> None:
        nonlocal recorder
        recorder = _make_recorder(app, spec, plan)
        renderer.start(recorder.session_id, spec.backend)

    def on_line(line: str) -> None:
        for event in parser.feed(line):
            _handle(event, state, renderer, recorder, env)

    from clinvk.runner import run_lines

    if not spec.ephemeral:  # a broken store fails here, not after the backend has started
        app.store.check_writable()
    plan.tidy_store()
    result = run_lines(argv, cwd=plan.workdir, env=plan.environ, on_line=on_line,
                       timeout=spec.timeout or None, stdin=stdin, on_spawn=on_spawn)
    plan.tidy_store()
    assert recorder is not None  # run_lines calls on_spawn before any line, or raises
    for event in parser.finish(result.exit_code if result.signal is None else -result.signal):
        _handle(event, state, renderer, recorder, env)
    return _conclude(spec, plan, state, result, renderer, recorder)


def _make_recorder(app: App, spec: TurnSpec, plan: _Plan) -> Recorder:
    from clinvk import session as sessions
    from clinvk.recorder import Recorder

    settings = app.settings
    store = None if spec.ephemeral else app.store
    if store is not None:
        store.open()  # fails here, as the first write would, before the backend gets far
    common = {"store_prompts": settings.get("session.store_prompts"),
              "store_usage": settings.get("session.store_token_usage"), "notice": app.env.warn}
    if spec.session is not None and not spec.fork:
        return Recorder(store, dict(spec.session), exists=True, **common)
    tags = tuple(dict.fromkeys([*settings.get("session.default_tags"), *spec.tags]))
    prompt = spec.prompt if spec.stored_prompt is None else spec.stored_prompt
    title = spec.title or (sessions.make_title(prompt) if common["store_prompts"]
                           else sessions.NOT_STORED_TITLE)
    parent_id = spec.parent_id or (spec.session["id"] if spec.fork and spec.session else None)
    record = sessions.new_session(spec.backend, plan.workdir, model=plan.model, title=title,
                                  tags=tags, store_usage=common["store_usage"],
                                  parent_id=parent_id, metadata=spec.metadata)
    return Recorder(store, record, exists=False, **common)


def _baseline(plan: _Plan, spec: TurnSpec) -> Usage | None:
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
        state.diagnostics.append(event.line)
        env.info(f"backend: {event.line}")


def _outcome(spec: TurnSpec, state: _State, result) -> tuple[str, str | None, ExitCode]:
    if result.timed_out:
        return "error", f"timed out after {spec.timeout:g}s", ExitCode.TIMEOUT
    if result.interrupted:
        return "interrupted", "interrupted", ExitCode.INTERRUPTED
    if state.fatal:
        return "error", state.fatal[-1], ExitCode.BACKEND_FAILED
    if result.exit_code not in (0, None) or result.signal is not None:
        code = result.exit_code if result.signal is None else f"signal {result.signal}"
        return "error", f"backend exited with code {code}", ExitCode.BACKEND_FAILED
    return "active", None, ExitCode.OK


def _conclude(spec, plan, state: _State, result, renderer, recorder) -> dict[str, Any]:
    status, error, code = _outcome(spec, state, result)
    usage = state.usage.to_dict() if state.usage is not None else None
    if not state.streamed and state.final_text and code == ExitCode.OK:
        renderer.text(state.final_text)
        if state.keep_content:
            state.content.append(state.final_text)
    record = recorder.finish(
        prompt=spec.prompt if spec.stored_prompt is None else spec.stored_prompt,
        duration_ms=result.duration_ms, exit_code=int(code),
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
    return out


def _failure(code: ExitCode, message: str, result: dict[str, Any]) -> ClinvkError:
    cls = {ExitCode.TIMEOUT: TimedOut, ExitCode.INTERRUPTED: Interrupted}.get(code, BackendFailed)
    err = cls(message)
    err.result = result  # type: ignore[attr-defined]
    return err
