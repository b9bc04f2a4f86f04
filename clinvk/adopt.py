"""Adopt the backends' own conversations (`clinvk sessions adopt`, and `adopt.auto`).

Every file of the backends' stores (`Adapter.native_files`) is stat'ed; one unchanged since
the last adopt (adopt_state) is not read again. A changed one is read
(`Adapter.native_transcript`) and, under the store's lock, looked up by (backend, backend
session id) among all sessions whatever their origin: unknown, it becomes a new session
of origin "adopted" (all new sessions are written in one batch); known, the turns no
record holds are appended to it, marked `outside: true` (adopt_build). A file that cannot
be read whole is skipped with one warning per version of it, and read again when it
changes. Click-free.
"""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.adopt_state import AdoptState

if TYPE_CHECKING:
    from clinvk.adopt_build import TimedTurn
    from clinvk.app import App
    from clinvk.backends.base import Adapter
    from clinvk.backends.transcript import Transcript


@dataclass
class AdoptReport:
    """What an adopt did (or, dry, would do): `sessions adopt --json`'s object."""

    dry_run: bool = False
    adopted: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    unchanged: int = 0  # files only stat'ed
    pending: int = 0  # changed files left for a later call (budget spent, store busy)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "adopted": self.adopted, "updated": self.updated,
                "skipped": self.skipped, "unchanged": self.unchanged}


@dataclass(frozen=True)
class NativeFile:
    """One changed file of a backend's store, with how to read it."""

    backend: str
    adapter: Adapter
    environ: dict[str, str]
    path: Path
    st: os.stat_result


def adopt(app: App, backends: list[str] | None = None, since: datetime | None = None,
          dry_run: bool = False, budget_ms: int | None = None) -> AdoptReport:
    """Adopt the conversations of these backends (default: every enabled built-in one)
    whose file changed since `since` (default: any time). With `budget_ms` (adopt.auto),
    stop after about that long and leave the rest to a later call, and do nothing when the
    store's lock is busy. `dry_run` reads everything and writes nothing."""
    deadline = None if budget_ms is None else time.monotonic() + budget_ms / 1000
    from clinvk.paths import adopt_state_path

    report = AdoptReport(dry_run=dry_run)
    state = AdoptState.load(adopt_state_path(app.settings.home))
    changed = scan(app, _names(app, backends), state, since, report)
    if changed:
        with _store_lock(app, dry_run, budget_ms is not None) as got:
            if not got:
                report.pending = len(changed)
                return report
            _Run(app, state, report, deadline).take(changed)
    if not dry_run:
        state.save()
    return report


def _names(app: App, backends: list[str] | None) -> list[str]:
    """The built-in backends to adopt from: those asked for, else every enabled one."""
    from clinvk.backends import NAMES
    from clinvk.errors import UsageError

    if backends:
        unknown = [name for name in backends if name not in NAMES]
        if unknown:
            raise UsageError(f"cannot adopt from backend {unknown[0]!r}: adopt reads the stores "
                             f"of {', '.join(NAMES)}")
        return list(dict.fromkeys(backends))
    confs = app.settings.get("backends")
    return [name for name in NAMES if (confs.get(name) or {}).get("enabled", True)]


def scan(app: App, names: list[str], state: AdoptState, since: datetime | None,
         report: AdoptReport) -> list[NativeFile]:
    """The files of these backends' stores that changed since the last adopt (and since
    `since`); the state forgets the files that are gone."""
    from clinvk.transcripts.access import adapter_for

    floor = None if since is None else since.timestamp() * 1e9
    changed = []
    for name in names:
        adapter, environ = adapter_for(app, name)
        present = set()
        for path in adapter.native_files(environ):
            key = os.fspath(path)
            try:
                st = os.stat(key)
            except OSError:
                continue
            present.add(key)
            if state.unchanged(name, key, st):
                report.unchanged += 1
            elif floor is None or st.st_mtime_ns >= floor:
                changed.append(NativeFile(name, adapter, environ, path, st))
        state.keep_only(name, present)
    return changed


def _store_lock(app: App, dry_run: bool, auto: bool) -> Any:
    """The store's lock for the adopt (none when dry: nothing is written); an automatic
    adopt does not wait for it."""
    if dry_run:
        return nullcontext(True)
    if auto:
        return app.store.lock(blocking=False)
    return app.store.lock()


class _Run:
    """One adopt's reading and writing, under the store's lock."""

    def __init__(self, app: App, state: AdoptState, report: AdoptReport,
                 deadline: float | None) -> None:
        self.app = app
        self.state = state
        self.report = report
        self.deadline = deadline
        from clinvk.adopt_build import BuildOptions  # only when something changed

        settings = app.settings
        usage = bool(settings.get("session.store_token_usage"))
        self.options = BuildOptions(bool(settings.get("session.store_prompts")), usage,
                                    app.prices if usage else None)
        self.known = _known_sessions(app)
        self.new: dict[tuple[str, str], tuple[dict[str, Any], list[NativeFile]]] = {}

    def take(self, files: list[NativeFile]) -> None:
        """Read the files (until the deadline: at least one, so that adopting always gets
        on), write what they hold, note the state."""
        with self.app.progress("adopting conversations", total=len(files)) as progress:
            for n, file in enumerate(files):
                if n and self.deadline is not None and time.monotonic() > self.deadline:
                    self.report.pending = len(files) - n
                    break
                self.one(file)
                progress.update(n + 1)
        self.write_new()

    def one(self, file: NativeFile) -> None:
        from clinvk.backends.transcript import TranscriptUnavailable, split_turns

        try:
            transcript = file.adapter.native_transcript(file.path, file.environ)
        except TranscriptUnavailable as exc:
            self.skip(file, str(exc))
            return
        turns = split_turns(transcript.messages)
        if not turns:
            self.note(file, "none")
            return
        problem = _unusable(transcript)
        if problem:
            self.skip(file, problem)
            return
        from clinvk.adopt_build import timed_turns

        fallback = datetime.fromtimestamp(file.st.st_mtime, tz=_utc())
        self.place(file, transcript, timed_turns(turns, fallback))

    def place(self, file: NativeFile, transcript: Transcript, turns: list[TimedTurn]) -> None:
        """A new session, outside turns of a known one, or of one adopted in this run."""
        from clinvk.adopt_build import append_outside, new_record, uncovered

        key = (file.backend, transcript.session_id or "")
        if key in self.new:
            record, files = self.new[key]
            extra = uncovered([record], turns)
            if extra:
                append_outside(record, extra, transcript.model, self.options)
            files.append(file)
            return
        ids = self.known.get(key)
        if ids:
            self.update(file, ids, transcript, turns)
            return
        from clinvk.store.record_check import storable
        from clinvk.store.session import InvalidRecord, validate_record

        try:
            record = validate_record(storable(new_record(file.backend, transcript, turns,
                                                         self.options)))
        except InvalidRecord as exc:  # one bad conversation must not hold up the batch
            self.skip(file, f"{file.path}: {exc}")
            return
        self.new[key] = (record, [file])

    def update(self, file: NativeFile, ids: list[str], transcript: Transcript,
               turns: list[TimedTurn]) -> None:
        """Append the turns no record of this backend session holds to the latest one."""
        from clinvk.adopt_build import (
            append_outside,
            refresh_outside,
            stale_outside,
            summary,
            uncovered,
        )

        store = self.app.store
        records = sorted((store.get(sid) for sid in ids), key=lambda r: r["last_used"])
        extra = uncovered(records, turns)
        target = records[-1]
        stale = stale_outside(target, turns)
        copy = None if self.report.dry_run else _archive_copy(self.app, target)
        if extra or stale or copy is not None:
            grown: dict[str, int] = {}

            def change(record: dict[str, Any]) -> dict[str, Any]:
                grown.update(refresh_outside(record, stale, transcript.model, self.options))
                if copy is not None:
                    record["archive"] = copy
                return append_outside(record, extra, transcript.model, self.options)

            target = change(dict(target)) if self.report.dry_run else store.update(
                target["id"], change)
            if extra or stale:
                self.report.updated.append(summary(target, extra, grown))
        self.note(file, f"known:{target['id']}")

    def write_new(self) -> None:
        """Every new session in one batch (store.write), then noted in the state."""
        if not self.new:
            return
        from clinvk.adopt_build import summary

        records = [record for record, _files in self.new.values()]
        if not self.report.dry_run:
            from clinvk.store.write import commit, plan

            copies = self.archive_new()
            commit(self.app.store, plan(self.app.store, records, set()), fsync_each=False)
            self.write_copies(copies)
        for record, files in self.new.values():
            self.report.adopted.append(summary(record, record_turns(record)))
            for file in files:
                self.note(file, f"adopted:{record['id']}")

    def archive_new(self) -> list[tuple[dict[str, Any], Any]]:
        """The archive copies of the new sessions, compressed two at a time (zlib lets go of
        the GIL), their `archive` values put into the records before these are written."""
        from concurrent.futures import ThreadPoolExecutor

        from clinvk.archive import enabled, stage_paths

        if not enabled(self.app):
            return []
        pairs = [(record, [f.path for f in files]) for record, files in self.new.values()]
        with ThreadPoolExecutor(max_workers=2) as pool:
            staged = list(pool.map(lambda p: stage_paths(self.app, *p), pairs))
        out = []
        for (record, _paths), copy in zip(pairs, staged, strict=True):
            if copy is not None:
                record["archive"] = copy.value
                out.append((record, copy))
        return out

    def write_copies(self, copies: list[tuple[dict[str, Any], Any]]) -> None:
        from clinvk.archive import write_staged

        for record, copy in copies:
            write_staged(self.app, record, copy)

    def skip(self, file: NativeFile, reason: str) -> None:
        self.report.skipped.append({"path": str(file.path), "reason": reason})
        where = "" if str(file.path) in reason else f"{file.path}: "
        self.app.env.warn(f"not adopted yet: {where}{reason}")
        self.note(file, "skipped")

    def note(self, file: NativeFile, result: str) -> None:
        self.state.note(file.backend, str(file.path), file.st, result)


def _archive_copy(app: App, record: dict[str, Any]) -> dict[str, Any] | None:
    """The session's transcript archived again (it changed: continued outside clinvk, or a
    session clinvk recorded before it kept archives); its new `archive` value or None."""
    from clinvk.archive import refresh

    return refresh(app, record)


def record_turns(record: dict[str, Any]) -> list[TimedTurn]:
    """The turns of a new adopted record as TimedTurns (for its summary's figures)."""
    from clinvk.adopt_build import TimedTurn
    from clinvk.backends.transcript import TranscriptTurn
    from clinvk.backends.usage import Usage
    from clinvk.clock import parse_rfc3339

    out = []
    for turn in record.get("turns") or []:
        at = parse_rfc3339(turn["at"])
        usage = Usage.from_dict(turn.get("usage"))
        out.append(TimedTurn(TranscriptTurn(turn.get("prompt") or "", turn["at"], turn["at"],
                                            usage, None), at, at, True))
    return out


def _unusable(transcript: Transcript) -> str | None:
    """Why a conversation cannot become a session (no usable id or directory), or None."""
    from clinvk.backends._jsonl import is_safe_id

    where = transcript.session_id or "?"
    if not is_safe_id(transcript.session_id):
        return f"a {transcript.backend} conversation without a usable session id"
    if not transcript.working_dir or not os.path.isabs(transcript.working_dir):
        return f"{transcript.backend} session {where}: its working directory is unknown"
    return None


def _utc() -> Any:
    from datetime import timezone

    return timezone.utc


def _known_sessions(app: App) -> dict[tuple[str, str], list[str]]:
    """(adapter name, backend session id) -> the ids of the sessions recording it."""
    from clinvk.store.queries import backend_sessions

    confs = app.settings.get("backends")
    out: dict[tuple[str, str], list[str]] = {}
    for row in backend_sessions(app.store):
        adapter = (confs.get(row.backend) or {}).get("adapter") or row.backend
        out.setdefault((adapter, row.backend_session_id), []).append(row.id)
    return out


def auto_adopt(app: App) -> None:
    """`adopt.auto`: an incremental adopt bounded to adopt.budget_ms before a listing
    (`sessions list`, `search`, `stats`); nothing under --ephemeral/--dry-run or when the
    store is busy, and never an error: a failure only delays adopting."""
    settings = app.settings
    if app.changes_nothing or not settings.get("adopt.auto"):
        return
    try:
        adopt(app, budget_ms=int(settings.get("adopt.budget_ms")))
    except Exception as exc:  # noqa: BLE001 - the listing goes on; `sessions adopt` says more
        app.env.warn(f"adopting the backends' conversations failed: {exc}")
