"""Removing sessions from the store: one by id (a damaged file too), or all those unused
since a moment (the retention clean), under the store's lock; deleted sessions also leave
clinvk's derived transcript cache at once."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.errors import SessionNotFound
from clinvk.filters import SessionFilter
from clinvk.ids import validate_id_or_prefix
from clinvk.session_files import _store_error

if TYPE_CHECKING:
    from clinvk.store import SessionStore


def delete(store: SessionStore, session_id: str) -> bool:
    """Remove one session file; False if there was no such session."""
    validate_id_or_prefix(session_id)
    if not store.root.is_dir():
        return False
    with store.lock():
        try:
            record, key, name = store._find(session_id)
        except SessionNotFound:  # perhaps a damaged file, which every listing skips
            from clinvk.store_write import delete_damaged

            return delete_damaged(store, session_id)
        folder = store.root / key
        try:
            before = os.lstat(folder).st_mtime_ns
            os.unlink(folder / name)
            after = os.lstat(folder).st_mtime_ns
        except FileNotFoundError:
            store._idx().drop(key, name)
            return False
        except OSError as exc:
            raise _store_error("delete", exc) from None
        store._idx().drop(key, name)
        store._idx().note_write(key, before, after)
        try:
            os.rmdir(folder)
        except OSError:
            pass
    forget_texts(store.home, [record["id"]])
    return True

def purge(store: SessionStore, *, until: datetime, dry_run: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Delete every session last used at or before `until`, oldest first, in one pass
    under the lock (one index sync, one index transaction), or with dry_run only find
    them; returns (records removed, bytes freed)."""
    from contextlib import nullcontext

    from clinvk.index_schema import micros

    if not store._check_root():
        return [], 0
    limit = micros(until)
    removed: list[dict[str, Any]] = []
    freed = 0
    with nullcontext() if dry_run else store.lock():
        if not store._ready():
            return [], 0
        rows = store._idx().select(SessionFilter(until=until, reverse=True))
        gone: list[tuple[str, str]] = []
        folders: dict[str, int] = {}  # dirkey -> its mtime before our first unlink
        try:
            for row in rows:
                key, name = row[1], row[2]
                path = store.root / key / name
                got = store._read_indexed(key, name)
                if got is None:
                    continue
                record, st = got
                if micros(record["last_used"]) > limit:  # used since it was indexed
                    store._idx().put(key, name, record, st)
                    continue
                if not dry_run:
                    try:
                        if key not in folders:
                            folders[key] = os.lstat(path.parent).st_mtime_ns
                        os.unlink(path)
                    except FileNotFoundError:
                        gone.append((key, name))
                        continue
                    except OSError as exc:
                        raise _store_error("delete", exc) from None
                    gone.append((key, name))
                removed.append(record)
                freed += st.st_size
        finally:
            store._idx().drop_many(gone)
            for key, before in folders.items():
                folder = store.root / key
                try:
                    store._idx().note_write(key, before, os.lstat(folder).st_mtime_ns)
                    os.rmdir(folder)
                except OSError:
                    pass
    if not dry_run:
        forget_texts(store.home, [r["id"] for r in removed])
    return removed, freed


def forget_texts(home: Path, session_ids: list[str]) -> None:
    """Deleted sessions leave no conversation text in clinvk's derived transcript cache."""
    from clinvk.transcript_cache import forget

    forget(home, session_ids)
