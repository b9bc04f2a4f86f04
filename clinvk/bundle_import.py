"""`sessions import`: check every bundle completely, then install the transcripts where each
backend finds them for the session's (possibly new) directory, then record the sessions.

Nothing is written when any part of any input is invalid (UsageError, exit 2, naming the
file, the entry and the problem). Writes go only under the backends' store roots (relative
paths without `..`, never through a symlink) and into clinvk's store.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.bundle_format import FORMAT, REDACTED, VERSION
from clinvk.errors import UsageError
from clinvk.transcripts.access import adapter_for

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.backends.base import Adapter, StoreFile

MAX_BUNDLE_BYTES = 2 << 30  # one input file
MAX_RECORD_CHARS = 1 << 20  # one session record, as JSON
MAX_FILES = 16  # store files of one session
MAX_TRANSCRIPT_BYTES = 512 << 20  # one store file


class BundleInvalid(UsageError):
    """An input of `sessions import` is not a valid bundle."""


@dataclass(frozen=True)
class ImportOptions:
    new_id: bool = False
    force: bool = False
    title: str | None = None
    workdir: str | None = None


@dataclass
class _Entry:
    where: str  # "FILE: session N (id)" for messages
    record: dict[str, Any]
    old_dir: str = ""
    backend_files: list[StoreFile] | None = None
    adapter: Adapter | None = None
    environ: dict[str, str] = field(default_factory=dict)
    writes: list[StoreFile] = field(default_factory=list)
    replaces: bool = False


def _fail(where: str, problem: str) -> BundleInvalid:
    return BundleInvalid(f"{where}: {problem}; nothing was imported")


def _read(path: str) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BUNDLE_BYTES + 1)
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_BUNDLE_BYTES:
        raise _fail(path, "file is too large")
    try:
        return json.loads(data, parse_constant=_not_json, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise _fail(path, f"not JSON ({str(exc)[:80]})") from None


def _not_json(name: str) -> Any:
    """NaN, Infinity, -Infinity: Python's json takes them, JSON has none (nor strict readers:
    a record holding one would make every `--json` listing unreadable to them)."""
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e999
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _sessions_of(path: str, bundle: Any) -> list[Any]:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise _fail(path, f'not a clinvk export (expected "format": "{FORMAT}")')
    version = bundle.get("version")
    if type(version) is not int:
        raise _fail(path, '"version" must be an integer')
    if version > VERSION:
        raise _fail(path, f"bundle version {version} is newer than this clinvk reads ({VERSION}); "
                          "upgrade clinvk")
    if version < 1:
        raise _fail(path, f"unknown bundle version {version}")
    if not isinstance(bundle.get(REDACTED, False), bool):
        raise _fail(path, f'"{REDACTED}" must be true or false')
    sessions = bundle.get("sessions")
    if not isinstance(sessions, list):
        raise _fail(path, '"sessions" must be a list')
    return sessions


def _decode_file(raw: Any) -> StoreFile:
    from clinvk.backends._relocate import check_rel_path
    from clinvk.backends.base import StoreFile

    if not isinstance(raw, dict):
        raise ValueError("a transcript file must be an object")
    path, content = raw.get("path"), raw.get("content")
    check_rel_path(path)
    if not isinstance(content, str):
        raise ValueError(f"content of {path!r} must be a string")
    if len(content) > MAX_TRANSCRIPT_BYTES * 2:
        raise ValueError(f"{path!r} is too large")
    encoding = raw.get("encoding", "utf-8")
    if encoding == "utf-8":
        data = content.encode("utf-8", "surrogatepass")
    elif encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"content of {path!r} is not valid base64") from None
    else:
        raise ValueError(f"unknown encoding {encoding!r} of {path!r}")
    if len(data) > MAX_TRANSCRIPT_BYTES:
        raise ValueError(f"{path!r} is too large")
    return StoreFile(path, data)


def _entry(app: App, where: str, raw: Any) -> _Entry:
    from clinvk.backends._jsonl import is_safe_id
    from clinvk.store.migrations import upgrade
    from clinvk.store.record_check import check_record
    from clinvk.store.session import InvalidRecord

    if not isinstance(raw, dict) or not isinstance(raw.get("session"), dict):
        raise _fail(where, 'an entry must be an object with a "session" object')
    try:
        size = len(json.dumps(raw["session"], ensure_ascii=False))
    except (ValueError, TypeError, RecursionError):
        raise _fail(where, "the session record is not plain JSON") from None
    if size > MAX_RECORD_CHARS:
        raise _fail(where, f"the session record is larger than {MAX_RECORD_CHARS} characters")
    try:
        record, notes = check_record(upgrade(raw["session"]))  # version 1 too, upgraded
    except InvalidRecord as exc:
        raise _fail(where, f"invalid session record: {exc}") from None
    record["origin"] = "imported"  # how it came into this store, whatever it was in the other
    where = f"{where} ({record['id'][:8]})"
    for note in notes:
        app.env.warn(f"{where}: {note}")
    entry = _Entry(where, record)
    transcript = raw.get("transcript")
    if transcript is None:
        return entry
    files = transcript.get("files") if isinstance(transcript, dict) else None
    if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
        raise _fail(where, f'"transcript" must hold a list of 1 to {MAX_FILES} "files"')
    if not is_safe_id(record.get("backend_session_id")):
        raise _fail(where, "a transcript needs a plain backend_session_id")
    try:
        entry.adapter, entry.environ = adapter_for(app, record["backend"])
    except UsageError as exc:
        raise _fail(where, exc.message) from None
    try:
        entry.backend_files = [_decode_file(f) for f in files]
    except ValueError as exc:
        raise _fail(where, f"transcript: {exc}") from None
    return entry


def _workdir(app: App, options: ImportOptions) -> str | None:
    if options.workdir is None:
        return None
    path = os.path.abspath(os.path.join(app.env.current_dir(), os.path.expanduser(options.workdir)))
    if not os.path.isdir(path):
        raise UsageError(f"--workdir {options.workdir}: no such directory")
    return path


def _assign_ids(app: App, entries: list[_Entry], options: ImportOptions, workdir: str | None) -> None:
    from clinvk.ids import new_id
    from clinvk.store.session import make_title

    seen: set[str] = set()
    existing: set[str] | None = None
    for entry in entries:
        record = entry.record
        if options.new_id:
            record["id"] = new_id()
        elif record["id"] in seen:
            raise _fail(entry.where, "the same session id appears twice in the input (use --new-id)")
        else:
            if existing is None:  # one read of the store, not one lookup per entry
                existing = {r["id"] for r in app.store.list()}
            if record["id"] in existing:
                if not options.force:
                    raise _fail(entry.where, f"session {record['id']} exists already "
                                             "(use --new-id for a copy or --force to replace it)")
                entry.replaces = True
        seen.add(record["id"])
        if options.title is not None:
            record["title"] = make_title(options.title)
        if workdir is not None:
            record["working_dir"] = workdir


def _plan_writes(entries: list[_Entry], options: ImportOptions) -> None:
    """Ask each backend's adapter where the files go for the new directory and id."""
    from clinvk.backends.base import Relocation

    groups: dict[int, list[tuple[_Entry, Relocation]]] = {}
    for entry in entries:
        if entry.adapter is None or entry.backend_files is None:
            continue
        old_id = entry.record["backend_session_id"]
        new = entry.adapter.new_session_id() if options.new_id else old_id
        old_dir = entry.old_dir
        item = Relocation(tuple(entry.backend_files), old_id, new, old_dir, entry.record["working_dir"])
        groups.setdefault(id(entry.adapter), []).append((entry, item))
        entry.record["backend_session_id"] = new
    for group in groups.values():
        adapter, environ = group[0][0].adapter, group[0][0].environ
        try:
            results = adapter.relocate([item for _, item in group], environ)  # type: ignore[union-attr]
        except ValueError:
            for entry, item in group:  # one by one, to name the entry at fault
                try:
                    adapter.relocate([item], environ)  # type: ignore[union-attr]
                except ValueError as exc:
                    raise _fail(entry.where, f"transcript: {exc}") from None
            raise
        for (entry, _), files in zip(group, results, strict=True):
            entry.writes = files


def _check_targets(entries: list[_Entry], options: ImportOptions) -> None:
    from clinvk.backends._relocate import read_existing, target_problem

    planned: dict[tuple[str, str], bytes] = {}
    for entry in entries:
        if not entry.writes:
            continue
        root = entry.adapter.store_root(entry.environ)  # type: ignore[union-attr]
        for file in entry.writes:
            problem = target_problem(root, file.path)
            if problem:
                raise _fail(entry.where, f"cannot write the transcript: {problem}")
            key = (str(root), file.path)
            if planned.get(key, file.content) != file.content:
                raise _fail(entry.where, f"two sessions of the input write {root / file.path}")
            planned[key] = file.content
            existing = read_existing(root, file.path)
            if existing not in (None, file.content) and not options.force \
                    and not file.path.endswith(".project_root"):
                raise _fail(entry.where, f"{root / file.path} exists with other content "
                                         "(use --new-id for a copy or --force to replace it)")


def import_files(app: App, paths: list[str], options: ImportOptions) -> list[dict[str, Any]]:
    """Validate all of `paths`, then import; returns the recorded session records."""
    if options.new_id and options.force:
        raise UsageError("--new-id and --force exclude each other")
    workdir = _workdir(app, options)
    entries: list[_Entry] = []
    with app.progress("reading sessions") as progress:
        for path in paths:
            for n, raw in enumerate(_sessions_of(path, _read(path)), start=1):
                entry = _entry(app, f"{path}: session {n}", raw)
                entry.old_dir = entry.record["working_dir"]
                entries.append(entry)
                progress.advance()
    _assign_ids(app, entries, options, workdir)
    _plan_writes(entries, options)
    _check_targets(entries, options)
    with app.store.lock():
        return _install(app, entries, options)


def _install(app: App, entries: list[_Entry], options: ImportOptions) -> list[dict[str, Any]]:
    """Under the store lock: check the ids once more (a damaged file's too), install the
    transcripts, then record every session at once (store_write: all or nothing on disk)."""
    from clinvk.backends._relocate import write_store_file
    from clinvk.errors import StoreError
    from clinvk.store import SessionExists
    from clinvk.store.write import commit, plan

    replace = {entry.record["id"] for entry in entries} if options.force else set()
    try:
        batch = plan(app.store, [entry.record for entry in entries], replace)
    except SessionExists as exc:  # a damaged file of that id, one imported meanwhile, or
        # one written by a newer clinvk (which --force does not replace either)
        hint = "use --new-id for a copy" + ("" if options.force else " or --force to replace it")
        raise BundleInvalid(f"{exc.message} ({hint}); nothing was imported") from None
    with app.progress("importing sessions", len(entries)) as progress:
        for entry in entries:
            root: Path | None = entry.adapter.store_root(entry.environ) if entry.writes else None  # type: ignore[union-attr]
            for file in entry.writes:
                try:
                    write_store_file(root, file.path, file.content)  # type: ignore[arg-type]
                except (OSError, ValueError) as exc:
                    raise StoreError(f"{entry.where}: cannot write {root / file.path}: {exc}") from None  # type: ignore[operator]
            progress.advance()
        _archive(app, entries, batch)
        return commit(app.store, batch)  # the line stays up while the records are written


def _archive(app: App, entries: list[_Entry], batch: list[Any]) -> None:
    """Each imported session's `archive`: its transcript just installed, archived (the
    bundle's own `archive` field described another machine's copy)."""
    from clinvk import archive

    on = archive.enabled(app)
    home = app.settings.home
    for entry, item in zip(entries, batch, strict=True):
        record = item.record
        value = None
        if entry.replaces or record.get("archive") is not None:
            archive.remove(home, [record["id"]])  # an earlier copy of a replaced session
        if on and entry.writes and entry.adapter is not None:
            try:
                items = archive.backend_items(entry.adapter, entry.environ, record)
                value = archive.write_items(home, {**record, "archive": None}, items) if items else None
            except (OSError, ValueError) as exc:
                app.env.warn(f"{entry.where}: the transcript was not archived: "
                             f"{getattr(exc, 'strerror', None) or exc}")
        record["archive"] = value
