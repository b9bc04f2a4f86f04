"""A turn resolved once, for the CLI and clinvk.api alike, headless or interactive: what to
run (TurnSpec) → its settings (timeout, what is stored), adapter, request, directory,
environment and the argv of the mode it runs in (TurnPlan) → the Recorder of its session.
Click-free."""

from __future__ import annotations

import errno
import os

from clinvk.backends.base import TurnRequest
from clinvk.errors import BackendFailed, BackendNotInstalled, ClinvkError, UsageError
from clinvk.records import Record

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

    from clinvk.app import App
    from clinvk.archive import RecorderArchive
    from clinvk.recorder import Recorder


# what an exec that fails with these says: the program is missing or is no program
BROKEN_INSTALL = frozenset({errno.ENOENT, errno.EACCES, errno.ENOEXEC, errno.ELOOP, errno.ENOTDIR})


class TurnSpec(Record):
    """What to run: a prompt on a backend, new or continuing `session`."""

    prompt: str
    backend: str
    model: str | None = None
    workdir: str | None = None
    session: dict[str, Any] | None = None
    ephemeral: bool = False
    dry_run: bool = False
    timeout: float | str | None = None  # None: the setting timeout_seconds; 0: none
    title: str | None = None
    tags: tuple[str, ...] = ()
    passthrough: tuple[str, ...] = ()
    fork: bool = False  # with `session`: a new session whose conversation starts as its copy
    parent_id: str | None = None  # of a new session (fork, hand-over)
    metadata: dict[str, str] | None = None  # of a new session
    stored_prompt: str | None = None  # the prompt recorded in the turn (default: `prompt`)


def resolve_timeout(value: object, setting: object) -> float:
    """The turn's timeout in seconds (0: none): the value given, else the setting."""
    if value is None:
        return float(setting or 0)
    from clinvk.durations import parse_timeout

    return parse_timeout(value, "timeout")


class TurnPlan:
    """The resolved pieces of a turn: settings, adapter, request, argv, directory, environment.

    `interactive` chooses the argv built: the backend's interface (with the session id
    clinvk chooses up front when the backend takes one: `new_id`) or a headless turn."""

    def __init__(self, app: App, spec: TurnSpec, *, interactive: bool = False) -> None:
        from clinvk.backends import get_adapter
        from clinvk.prompt import clean_spec, refuse_unstorable

        app.changes_nothing = spec.ephemeral or spec.dry_run  # the store, if opened, reads only;
        settings = app.settings  # ... and the config's parsed copy is not kept (after the flag)
        self.timeout = resolve_timeout(spec.timeout, settings.get("timeout_seconds"))
        clean_spec(spec, app.env)  # no NUL or undecodable byte reaches the backend or store
        self.app, self.spec, self.interactive = app, spec, interactive
        self.store_prompts = bool(settings.get("session.store_prompts"))
        self.store_usage = bool(settings.get("session.store_token_usage"))
        self.conf = settings.backend(spec.backend)
        self.adapter = get_adapter(settings.adapter_name(spec.backend))
        self.workdir, resume_id = self._directory()
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
        if spec.session is not None and not spec.dry_run:
            self._restore()  # the backend's files were deleted: back from clinvk's archive
        if spec.fork and spec.session is not None:
            self._prepare_fork()
        self.new_id: str | None = None  # the id an interactive run's new session gets
        if interactive:
            self.new_id = self._chosen_id()
            self.argv = self.adapter.build_interactive_argv(self.request, self.new_id)
        else:
            self.argv = self.adapter.build_argv(self.request)

    def _directory(self) -> tuple[str, str | None]:
        """The working directory, and the backend's session to resume (if any)."""
        session = self.spec.session
        if session is None:
            given = self.spec.workdir or "."
            workdir = os.path.abspath(given if os.path.isabs(given)
                                      else os.path.join(self.app.env.current_dir(), given))
            if not os.path.isdir(workdir):
                what = "is not a directory" if os.path.exists(workdir) else "does not exist"
                raise UsageError(f"working directory {workdir} {what}")
            return workdir, None
        workdir = session["working_dir"]
        resume_id = session.get("backend_session_id")
        if not resume_id:
            raise UsageError(f"session {session['id'][:8]} has no backend session id "
                             "(its first turn never started): it cannot be resumed")
        if not os.path.isdir(workdir):
            raise UsageError(f"the working directory of session {session['id'][:8]}, "
                             f"{workdir}, no longer exists")
        return workdir, resume_id

    def _restore(self) -> None:
        """Put back the session's archived store files that the backend no longer has. The
        common case, every file still there, costs a stat each before the spawn; the
        archive's machinery (gzip, hashing, the adapters' look-ups) only when one is gone."""
        session = self.spec.session
        assert session is not None
        if session.get("archive") is None or not session.get("backend_session_id"):
            return
        from clinvk.archive_read import archived

        root = self.adapter.store_root(self.environ)
        found = archived(self.app.settings.home, session["id"])
        if all(os.path.lexists(root / rel) for rel, _gz in found):
            return
        from clinvk.archive import restore

        restore(self.app, session)

    def _prepare_fork(self) -> None:
        """Let the adapter copy what the fork needs (nothing for a dry run)."""
        self.request.fork = True
        if self.spec.dry_run:
            return
        import tempfile
        from pathlib import Path

        self.scratch = tempfile.mkdtemp(prefix="clinvk-fork-")
        try:
            self.request.resume_id = self.adapter.prepare_fork(
                self.request.resume_id or "", self.workdir, self.environ, Path(self.scratch))
        except (ValueError, OSError) as exc:
            self.cleanup()
            raise UsageError(f"cannot fork session {self.spec.session['id'][:8]}: {exc}") from None

    def _chosen_id(self) -> str | None:
        """A new session, or a fork the backend copies itself (claude): clinvk chooses the
        id, when the backend takes one."""
        resume_id = self.request.resume_id
        fresh = resume_id is None or (self.request.fork and resume_id == self.original_id)
        if not (fresh and self.adapter.assigns_session_id):
            return None
        import uuid

        return str(uuid.uuid4())

    @property
    def original_id(self) -> str | None:
        """The backend session id of the session continued or forked."""
        return self.spec.session.get("backend_session_id") if self.spec.session else None

    @property
    def said(self) -> str:
        """The prompt recorded in the turn."""
        spec = self.spec
        return spec.prompt if spec.stored_prompt is None else spec.stored_prompt

    def tidy_store(self) -> None:
        """The adapter's optional repair of the backend's own store, before and after a run."""
        try:
            self.adapter.tidy_store(self.workdir, self.environ)
        except OSError:
            pass

    def cleanup(self) -> None:
        if self.scratch:
            import shutil

            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def shell_line(self, cwd: str | None, stdin: bytes | None = None) -> str:
        """The command line, quoted so that it prints nothing raw and pastes back exactly;
        with a `cd` first unless it runs in `cwd` (None: a removed directory)."""
        from clinvk.display import shell_line, shell_quote

        line = shell_line(self.argv)
        if stdin is not None:
            line += f" < (prompt on stdin, {len(stdin)} bytes)"
        return line if self.workdir == cwd else f"cd {shell_quote(self.workdir)} && {line}"

    def executable(self) -> str:
        from clinvk.pty.fork import find_executable

        path = find_executable(self.argv[0], self.environ.get("PATH"))
        if path is None:
            raise BackendNotInstalled(
                f"`{self.argv[0]}` not found on PATH: the {self.adapter.name} CLI is not "
                f"installed (install it with: {self.adapter.install_hint})"
            )
        return path

    def not_runnable(self, exc: OSError) -> ClinvkError:
        """The error of a backend whose program could not be started: exit 3 when it is
        missing or no program (a broken install), 2 when its directory cannot be entered,
        else 1."""
        reason = exc.strerror or str(exc)
        step = getattr(exc, "step", "exec")
        if step == "chdir":
            return UsageError(f"the working directory {exc.filename} cannot be entered: {reason}")
        if step == "exec" and exc.errno in BROKEN_INSTALL:
            return BackendNotInstalled(
                f"cannot run {exc.filename}: {reason}: the {self.adapter.name} CLI is not "
                f"installed properly (reinstall it with: {self.adapter.install_hint})")
        return BackendFailed(f"cannot start {self.adapter.name} ({exc.filename}): {reason}")


    def recorder(self, first_prompt: str | None, model: str | None,
                 now: datetime | None = None) -> Recorder:
        """The Recorder of the turn's session: the session continued, or a new one (created
        `now`) titled after `first_prompt` (the stored prompt when the spec has one)."""
        from clinvk.recorder import Recorder
        from clinvk.store import session as sessions

        spec = self.spec
        store = None if spec.ephemeral else self.app.store
        common = {"store_prompts": self.store_prompts, "store_usage": self.store_usage,
                  "notice": self.app.env.warn,
                  "prices": _LaterPrices(self.app) if self.store_usage else None,
                  "archiver": None if store is None else _LaterArchive(self.app)}
        if spec.session is not None and not spec.fork:
            return Recorder(store, dict(spec.session), exists=True, **common)
        settings = self.app.settings
        tags = tuple(dict.fromkeys([*settings.get("session.default_tags"), *spec.tags]))
        said = first_prompt if spec.stored_prompt is None else spec.stored_prompt
        title = spec.title or (sessions.make_title(said) if self.store_prompts
                               else sessions.NOT_STORED_TITLE)
        parent_id = spec.parent_id or (spec.session["id"] if spec.fork and spec.session else None)
        record = sessions.new_session(spec.backend, self.workdir, model=model, title=title,
                                      tags=tags, store_usage=self.store_usage, now=now,
                                      parent_id=parent_id, metadata=spec.metadata)
        return Recorder(store, record, exists=False, **common)


# The price table and the archive, which a turn's recorder uses at its end, are made at their
# first use: when the backend says the turn is done (Recorder.turn_done), else at the end. Not
# with the recorder, at the backend's first line, when clinvk's setup competes with the backend
# for the CPU: their imports and prices.json are ~10 ms of it (issue 9 §8).

class _LaterPrices:
    """The App's price table, built at its first use (or `load`)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def load(self) -> None:
        self.app.prices  # noqa: B018 - built once, kept by the App

    def estimate(self, *args: Any, **kwargs: Any) -> Any:
        return self.app.prices.estimate(*args, **kwargs)


class _LaterArchive:
    """The recorder's archiver (clinvk.archive.RecorderArchive), made at its first use."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.archive: RecorderArchive | None = None

    def _made(self) -> RecorderArchive:
        if self.archive is None:
            from clinvk.archive import RecorderArchive

            self.archive = RecorderArchive(self.app)
        return self.archive

    def early(self, record: dict[str, Any]) -> None:
        self._made().early(record)

    def __call__(self, record: dict[str, Any]) -> Any:
        return self._made()(record)
