"""Removing sessions from the store: one by id (a damaged file too), or all those unused
since a moment (the retention clean), under the store's lock. The store's on_delete hooks
are told the ids removed (so that a derived cache can forget them: the store knows none)."""

from __future__ import annotations

import os
from contextlib import nullcontext
from datetime import datetime

from clinvk.errors import AmbiguousPrefix, SessionNotFound
from clinvk.ids import is_valid_id, validate_id_or_prefix
from clinvk.store.files import store_error
from clinvk.store.index import SkippedRow
from clinvk.store.schema import micros
from clinvk.store.selection import SessionFilter

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from clinvk.store.core import SessionStore


def damaged(store: SessionStore, id_or_prefix: str) -> list[SkippedRow]:
    """The damaged files (skipped by every listing) whose file name is a session id
    starting with id_or_prefix."""
    prefix = validate_id_or_prefix(id_or_prefix)
    if not store.ready():
        return []
    return [row for row in store.index().skipped_from(prefix)
            if row.name.endswith(".json") and is_valid_id(row.name[:-5])]


def damaged_id(store: SessionStore, id_or_prefix: str) -> tuple[str, str]:
    """(id, reason) of the one damaged session file matching; SessionNotFound if none."""
    rows = damaged(store, id_or_prefix)
    ids = sorted({row.name[:-5] for row in rows})
    if not ids:
        raise SessionNotFound(f"no session matches {id_or_prefix.strip()!r}")
    if len(ids) > 1:
        raise AmbiguousPrefix(f"session id prefix {id_or_prefix.strip()!r} is ambiguous; it "
                              "matches the damaged files of " + ", ".join(ids[:10]))
    return ids[0], rows[0].reason


def find_for_delete(store: SessionStore, id_or_prefix: str) -> tuple[str, dict[str, Any] | None, str]:
    """(id, record, "") of the session to delete, or (id, None, reason) when only a damaged
    file has that id; SessionNotFound / AmbiguousPrefix as store.get."""
    try:
        record = store.get(id_or_prefix)
    except SessionNotFound:
        sid, reason = damaged_id(store, id_or_prefix)
        return sid, None, reason
    return record["id"], record, ""


def delete_damaged(store: SessionStore, session_id: str) -> bool:
    """Remove every damaged file of this one session (by id or prefix); False if none."""
    with store.lock():
        try:
            sid, _reason = damaged_id(store, session_id)
        except SessionNotFound:
            return False
        files = [(row.dirkey, row.name) for row in damaged(store, sid) if row.name == f"{sid}.json"]
        for key, name in files:
            try:
                os.unlink(store.root / key / name)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise store_error("delete", exc) from None
        store.index().drop_many(files)
    store.deleted([sid])
    return True


def set_aside_damaged(store: SessionStore, session_id: str) -> list[str]:
    """Move the damaged files of this one session (by full id) out of the listings, so that
    the session can be written again: to `$CLINVK_HOME/damaged/<id>.json` (folder 0700;
    `<id>.2.json`, ... when taken), else, should that fail (another file system, a file
    named `damaged`), beside it as `.<id>.json.damaged` (dot names are not listed); the
    new paths. StoreError when neither works."""
    kept: list[str] = []
    with store.lock():
        files = [(row.dirkey, row.name) for row in damaged(store, session_id)
                 if row.name == f"{session_id}.json"]
        for key, name in files:
            path = store.root / key / name
            if not os.path.lexists(path):
                continue
            try:
                kept.append(_move_aside(path, store.root.parent / "damaged"))
            except OSError:
                try:
                    kept.append(_move_aside(path, path.parent, hidden=True))
                except OSError as exc:
                    raise store_error("set aside the damaged file", exc) from None
        store.index().drop_many(files)
    return kept


def _move_aside(path: Path, folder: Path, hidden: bool = False) -> str:
    """Rename `path` into `folder` under a name no file has yet (the store's lock is held)."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    stem, n = path.name[:-len(".json")], 1
    while True:
        suffix = "" if n == 1 else f".{n}"
        name = f".{stem}.json{suffix}.damaged" if hidden else f"{stem}{suffix}.json"
        target = folder / name
        if not os.path.lexists(target):
            os.rename(path, target)
            return str(target)
        n += 1


def delete(store: SessionStore, session_id: str) -> bool:
    """Remove one session file; False if there was no such session."""
    validate_id_or_prefix(session_id)
    if not store.root.is_dir():
        return False
    with store.lock():
        try:
            record, key, name = store.locate(session_id)
        except SessionNotFound:  # perhaps a damaged file, which every listing skips
            return delete_damaged(store, session_id)
        folder = store.root / key
        try:
            before = os.lstat(folder).st_mtime_ns
            os.unlink(folder / name)
            after = os.lstat(folder).st_mtime_ns
        except FileNotFoundError:
            store.index().drop(key, name)
            return False
        except OSError as exc:
            raise store_error("delete", exc) from None
        store.index().drop(key, name)
        store.index().note_write(key, before, after)
        try:
            os.rmdir(folder)
        except OSError:
            pass
    store.deleted([record["id"]])
    return True


def purge(store: SessionStore, *, until: datetime, dry_run: bool = False,
          keep: frozenset[str] = frozenset()) -> tuple[list[dict[str, Any]], int]:
    """Delete every session last used at or before `until` (but those of `keep`), oldest
    first, in one pass under the lock (one index sync, one index transaction), or with
    dry_run only find them; returns (records removed, bytes freed)."""
    if not store.check_root():
        return [], 0
    limit = micros(until)
    removed: list[dict[str, Any]] = []
    freed = 0
    with nullcontext() if dry_run else store.lock():
        if not store.ready():
            return [], 0
        rows = [row for row in store.index().select(SessionFilter(until=until, reverse=True))
                if row.id not in keep]
        gone: list[tuple[str, str]] = []
        folders: dict[str, int] = {}  # dirkey -> its mtime before our first unlink
        label = "finding old sessions" if dry_run else "cleaning sessions"
        try:
            with store.progress(label) as on_progress:
                for done, row in enumerate(rows, start=1):
                    on_progress(done, len(rows))
                    got = _remove_row(store, row, limit, dry_run, folders, gone)
                    if got is not None:
                        removed.append(got[0])
                        freed += got[1]
        finally:
            store.index().drop_many(gone)
            for key, before in folders.items():
                folder = store.root / key
                try:
                    store.index().note_write(key, before, os.lstat(folder).st_mtime_ns)
                    os.rmdir(folder)
                except OSError:
                    pass
    if not dry_run:
        store.deleted([r["id"] for r in removed])
    return removed, freed


def _remove_row(store: SessionStore, row: Any, limit: int, dry_run: bool,
                folders: dict[str, int], gone: list[tuple[str, str]]) -> tuple[dict[str, Any], int] | None:
    """Unlink one session the index found unused since `limit` (noting its folder's mtime and
    the file gone); (its record, bytes freed), or None when it was kept."""
    key, name = row.dirkey, row.name
    path = store.root / key / name
    got = store.read_indexed(key, name)
    if got is None:
        return None
    record, st = got
    if micros(record["last_used"]) > limit:  # used since it was indexed
        store.index().put(key, name, record, st)
        return None
    if not dry_run:
        try:
            if key not in folders:
                folders[key] = os.lstat(path.parent).st_mtime_ns
            os.unlink(path)
        except FileNotFoundError:
            gone.append((key, name))
            return None
        except OSError as exc:
            raise store_error("delete", exc) from None
        gone.append((key, name))
    return record, st.st_size
