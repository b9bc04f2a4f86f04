"""clinvk from Python, without Click: run a prompt, branch or hand over a session, and read,
delete, export and import the session records (the same dicts `--json` prints).

    import clinvk.api as clinvk
    result = clinvk.run("explain this repo", backend="codex", workdir="~/src/app")
    print(result.content, result.usage["total_tokens"])
    clinvk.run("and the tests?", resume=result.session_id)

Errors raise `ClinvkError` subclasses carrying the CLI's exit code (`err.exit_code`).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clinvk.errors import (
    AmbiguousPrefix,
    BackendFailed,
    BackendNotInstalled,
    ClinvkError,
    ConfigError,
    ExitCode,
    Interrupted,
    SessionNotFound,
    StoreError,
    TimedOut,
    UsageError,
)
from clinvk.filters import SessionFilter

__all__ = [
    "AmbiguousPrefix", "BackendFailed", "BackendNotInstalled", "ClinvkError", "ConfigError",
    "ExitCode", "Interrupted", "RunResult", "SessionFilter", "SessionNotFound", "StoreError",
    "TimedOut", "UsageError", "delete_session", "export_sessions", "fork", "get_session", "handoff",
    "import_bundles", "list_sessions", "run",
]


@dataclass(frozen=True)
class RunResult:
    """The fields of `clinvk -o json`."""

    session_id: str | None
    backend: str
    backend_session_id: str | None
    model: str | None
    content: str
    usage: dict[str, int] | None
    cost_usd: float | None
    duration_ms: int
    exit_code: int
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _app(config: str | None = None, cwd: str | None = None) -> Any:
    from clinvk.app import App
    from clinvk.env import Environment

    env = Environment(stdin=io.StringIO(), stdout=io.StringIO(), stderr=sys.stderr,
                      environ=dict(os.environ), cwd=cwd or os.getcwd(),
                      stdin_isatty=False, stdout_isatty=False)
    app = App(env)
    app.config_flag = config
    app.quiet_progress = True  # a library draws nothing on its caller's terminal
    return app


def _execute(app: Any, spec: Any) -> RunResult:
    """Run the turn (its settings resolved by its TurnPlan, as for the CLI); the fields."""
    from clinvk.output import Renderer
    from clinvk.turn import run_turn

    class _Collect(Renderer):
        keeps_content = True

    try:
        out = run_turn(app, spec, _Collect(app.env.stdout, app.env.stderr))
    finally:
        app.close_store()
    return RunResult(**out)


def run(prompt: str, *, backend: str | None = None, model: str | None = None,
        workdir: str | os.PathLike[str] | None = None, resume: str | None = None,
        ephemeral: bool = False, timeout: float | None = None) -> RunResult:
    """Run one prompt: a new session (on `backend`, in `workdir`), or continue the session
    `resume` (id or unique prefix) in its own directory. Raises on failure; the failed
    turn's fields are on the exception as `err.result`."""
    from clinvk.turn_plan import TurnSpec

    if not isinstance(prompt, str) or not prompt.strip():
        raise UsageError("no prompt given")
    app = _app()
    app.changes_nothing = ephemeral  # before the settings: the config's parsed copy is not kept
    session = None
    if resume is not None:
        if workdir is not None:
            raise UsageError("workdir cannot be used with resume: a session runs in its own directory")
        session = app.store.get(resume)
        if backend and backend != session["backend"]:
            raise UsageError(f"session {session['id'][:8]} is a {session['backend']} session")
    name = session["backend"] if session else (backend or app.settings.get("default_backend"))
    app.settings.backend(name)
    spec = TurnSpec(prompt=prompt, backend=name, model=model, session=session, ephemeral=ephemeral,
                    workdir=os.fspath(os.path.expanduser(workdir)) if workdir else None,
                    timeout=timeout)
    return _execute(app, spec)


def fork(session: str, prompt: str, *, model: str | None = None, timeout: float | None = None) -> RunResult:
    """`clinvk resume ID --fork PROMPT`: a new session starting from a copy of `session`."""
    from clinvk.handoff import fork_spec

    app = _app()
    return _execute(app, fork_spec(app.store.get(session), prompt, model=model, timeout=timeout))


def handoff(session: str, backend: str, prompt: str, *, model: str | None = None,
            timeout: float | None = None) -> RunResult:
    """`clinvk resume ID --to BACKEND PROMPT`: continue the conversation on another backend."""
    from clinvk.handoff import handoff_spec

    app = _app()
    spec = handoff_spec(app, app.store.get(session), backend, prompt, model=model, timeout=timeout)
    return _execute(app, spec)


def list_sessions(selection: SessionFilter | None = None, /, **filters: Any) -> list[dict[str, Any]]:
    """Session records, newest first, of selection or of these filters (SessionFilter's fields
    over selection's): backend, status, working_dir, tags, since, until (datetimes), search,
    meta (dict), order, reverse, limit, offset, resumable."""
    app = _app()
    try:
        return app.store.list(_selection(selection, filters))
    finally:
        app.store.close()


def _selection(selection: SessionFilter | None, filters: dict[str, Any]) -> SessionFilter:
    try:
        return SessionFilter.of(selection, **filters)
    except TypeError as exc:
        raise UsageError(f"unknown filter: {exc}") from None


def get_session(id_or_prefix: str) -> dict[str, Any]:
    """The session record with this id or unique prefix (≥ 4 characters)."""
    app = _app()
    try:
        return app.store.get(id_or_prefix)
    finally:
        app.store.close()


def delete_session(session_id: str | dict[str, Any]) -> bool:
    """Delete one session (an id, prefix or record); False when there was none."""
    app = _app()
    if isinstance(session_id, dict):
        session_id = session_id["id"]
    from clinvk.store.delete import delete

    try:
        return delete(app.store, session_id)  # an id or prefix; a damaged file's too
    except SessionNotFound:
        return False
    finally:
        app.store.close()


def export_sessions(ids: Iterable[str] = (), selection: SessionFilter | None = None, *,
                    transcripts: bool = True, redact: bool = False,
                    **filters: Any) -> dict[str, Any]:
    """The `sessions export` bundle (a JSON-ready dict) of these ids, or of every session
    matching selection or `filters` (list_sessions' filters) when no id is given; `redact`
    as `--redact`."""
    from clinvk.bundle import export_bundle, select_sessions

    chosen = _selection(selection, filters)
    app = _app()
    try:
        records = select_sessions(app.store, list(ids), chosen)
        return export_bundle(app, records, transcripts=transcripts, redact=redact)
    finally:
        app.store.close()


def import_bundles(paths: Iterable[str | os.PathLike[str]], *, new_id: bool = False,
                   force: bool = False, title: str | None = None,
                   workdir: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """`sessions import`: validate every bundle first (UsageError naming the file, the entry and
    the problem; nothing written), then install transcripts and records; returns the records."""
    from clinvk.bundle_import import ImportOptions, import_files

    app = _app()
    options = ImportOptions(new_id=new_id, force=force, title=title,
                            workdir=os.fspath(workdir) if workdir is not None else None)
    try:
        return import_files(app, [os.fspath(p) for p in paths], options)
    finally:
        app.store.close()
