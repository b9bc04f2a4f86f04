"""Writes of many sessions at once (`sessions import`). Kept apart from core.py, on the same
plumbing (lock, index, file helpers).

A batch is all or nothing on disk: every record is first written and fsynced as a temp file
in its folder; then a journal (sessions/.batch-journal.json, written atomically) lists the
renames to do; then they are done, the copies that --force replaces in other folders
removed, and the journal removed last. A process killed before the journal is complete
leaves only temp files, which the next process to take the store lock removes. Once the
journal is written the batch is committed: SIGINT, SIGTERM and SIGHUP are held back until
it is done, a rename that fails is tried again, and what is still undone (a process
killed, a rename that keeps failing) is finished by whoever next takes the store lock
while a journal is there (`recover`; a reader of the store takes it for that, not
--dry-run / --ephemeral), before it lists anything; the journal's temp files are never
removed before then.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clinvk.errors import StoreError
from clinvk.records import Record
from clinvk.store.core import SessionExists, SessionStore
from clinvk.store.delete import damaged
from clinvk.store.files import (
    atomic_write,
    dirkey,
    discard,
    mkdir_private,
    stage,
    store_error,
)
from clinvk.store.journal import JOURNAL, recover
from clinvk.store.migrations import NEWER
from clinvk.store.session import InvalidRecord, ordered, validate_record

PAUSE_VAR = "CLINVK_TEST_IMPORT_PAUSE"
HELD = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # wait while a batch is committed


class Planned(Record):
    record: dict[str, Any]
    key: str
    name: str
    old: tuple[str, str] | None  # the file it replaces (valid or damaged), if any


def plan(store: SessionStore, records: list[dict[str, Any]], replace: set[str]) -> list[Planned]:
    """Check a batch before anything is written (the caller holds the store lock): each
    record valid, and its id free unless in `replace`."""
    store.ensure_home()
    store.ready()
    out = []
    for record in records:
        try:
            clean = validate_record(record)
        except InvalidRecord as exc:
            raise StoreError(f"refusing to store an invalid session: {exc}") from None
        sid = clean["id"]
        key, name = dirkey(clean["working_dir"]), f"{sid}.json"
        rows = store.index().by_prefix(sid, limit=1)
        old = (rows[0].dirkey, rows[0].name) if rows else None
        if old is None:
            old = _damaged_copy(store, sid, name)
        if old is None and (store.root / key / name).exists():
            old = (key, name)
        if old is not None and sid not in replace:
            raise SessionExists(f"session {sid} already exists")
        out.append(Planned(clean, key, name, old))
    return out


def _damaged_copy(store: SessionStore, sid: str, name: str) -> tuple[str, str] | None:
    """(dirkey, name) of a skipped file of this id, which --force may replace; never one
    written by a newer clinvk (SessionExists)."""
    for row in damaged(store, sid):
        if row.name == name:
            if row.reason.startswith(NEWER):
                raise SessionExists(f"session {sid} is stored by a newer clinvk "
                                    f"({store.root / row.dirkey / row.name}); it is not replaced")
            return row.dirkey, row.name
    return None


def commit(store: SessionStore, batch: list[Planned], fsync_each: bool = True) -> list[dict[str, Any]]:
    """Write a planned batch: all temp files, the journal, every rename (see the module doc).
    Once the journal is written the batch is finished whatever happens: SIGINT, SIGTERM and
    SIGHUP wait until it is (then they are delivered), and a failed rename is tried again,
    or else left to the next holder of the lock (the journal and its temp files stay).
    `fsync_each=False` (a batch of thousands, `sessions adopt`): the temp files are flushed
    with one os.sync() before the journal instead of one fsync each."""
    if not batch:
        return []
    if (store.root / JOURNAL).exists() and not recover(store.root):
        raise StoreError(f"an earlier import is not complete yet ({store.root / JOURNAL}: a "
                         "rename or removal fails); nothing was imported")
    folders: dict[str, int | None] = {}  # dirkey -> its mtime before our first change
    staged = _stage_all(store, batch, folders, fsync_each)
    moves = [[f"{item.key}/{tmp.name}", f"{item.key}/{item.name}",
              None if item.old in (None, (item.key, item.name)) else "/".join(item.old)]
             for item, (tmp, _st) in zip(batch, staged, strict=True)]
    with _signals_held():
        _write_journal(store.root, moves, staged)
        error: OSError | None = None
        try:
            for n, move in enumerate(moves, start=1):
                os.replace(store.root / move[0], store.root / move[1])
                _test_pause("renamed", n)
        except OSError as exc:
            error = exc
        if not recover(store.root, moves):  # the rest, the replaced copies, the journal
            cause = error or OSError("a replaced copy could not be removed")
            raise StoreError(f"{store_error('write session file', cause).message}; the import "
                             "will be completed by the next clinvk command") from None
        _test_pause("committed", 1)
        _reindex(store, batch, staged, folders)
    return [item.record for item in batch]


def _stage_all(store: SessionStore, batch: list[Planned], folders: dict,
               fsync_each: bool = True) -> list:
    """Every record as a temp file (fsynced each, or all at once); on any failure, none
    is left."""
    staged: list[tuple[Path, os.stat_result]] = []
    try:
        for n, item in enumerate(batch, start=1):
            folder = store.root / item.key
            created = mkdir_private(folder)
            folders.setdefault(item.key, None if created else os.lstat(folder).st_mtime_ns)
            staged.append(stage(folder / item.name, ordered(item.record), fsync_each))
            _test_pause("staged", n)
        if not fsync_each:
            os.sync()
    except BaseException as exc:
        for tmp, _st in staged:
            discard(tmp)
        if isinstance(exc, OSError):
            raise store_error("write session file", exc) from None
        raise
    return staged


def _write_journal(root: Path, moves: list, staged: list) -> None:
    """The journal, or (when it could not be put in place) no temp file left and StoreError."""
    try:
        atomic_write(root / JOURNAL, {"moves": moves})  # type: ignore[arg-type]
    except OSError as exc:
        if (root / JOURNAL).exists():  # in place: only its folder's fsync failed
            return
        for tmp, _st in staged:
            discard(tmp)
        raise store_error("write session file", exc) from None


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP are held back for the duration, then delivered."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _reindex(store: SessionStore, batch: list[Planned], staged: list, folders: dict) -> None:
    with store.index().batch():
        for item, (_tmp, st) in zip(batch, staged, strict=True):
            if item.old is not None and item.old != (item.key, item.name):
                store.index().drop(*item.old)  # its file went with the renames
            store.index().put(item.key, item.name, item.record, st, settle=False)
        for key, before in folders.items():
            try:
                store.index().note_write(key, before, os.lstat(store.root / key).st_mtime_ns)
            except OSError:
                pass


def _test_pause(phase: str, n: int) -> None:
    """For the tests of a stopped import only: with CLINVK_TEST_IMPORT_PAUSE=PHASE:N
    ("staged:N" or "renamed:N", or "committed:1" once the journal is removed) the process
    says so on stderr after its N-th temp file written or renamed, then waits for a signal:
    while signals are held (the renames), SIGINT, SIGTERM or SIGHUP ends the wait and is
    held back again, as one that came during the renames would be."""
    if os.environ.get(PAUSE_VAR) != f"{phase}:{n}":
        return
    sys.stderr.write(f"clinvk: paused at {phase}:{n}\n")
    sys.stderr.flush()
    if signal.pthread_sigmask(signal.SIG_BLOCK, []) >= HELD:
        got = signal.sigtimedwait(HELD, 3600)
        if got is not None:
            signal.pthread_kill(threading.get_ident(), got.si_signo)
        return
    time.sleep(3600)
