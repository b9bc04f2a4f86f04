"""The session store: one JSON file per session under sessions/<dirkey>/<id>.json.

Files are the source of truth, written atomically (temp file, fsync, rename, fsync of
the folder) with mode 0600 in 0700 folders. Mutations serialise on an flock of
paths.lock_path; reads take no lock. Bad files are skipped with one warning each.
Nothing is created on construction or by reads of an empty home.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import clinvk.store.lock as store_lock
from clinvk.errors import AmbiguousPrefix, ExitCode, SessionNotFound, StoreError, UsageError
from clinvk.ids import validate_id_or_prefix
from clinvk.paths import index_path, lock_path, sessions_dir
from clinvk.store.files import (
    Vanished,
    atomic_write,
    dirkey,
    mkdir_private,
    read_session_file,
    store_error,
    sweep_temps,
)
from clinvk.store.index import Index, IndexRow
from clinvk.store.journal import JOURNAL, recover
from clinvk.store.schema import where as index_where
from clinvk.store.selection import SessionFilter
from clinvk.store.session import InvalidRecord, ordered, validate_record
from clinvk.store.sync import BadFile, ProgressFactory, iter_files, no_progress

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

DeleteHook = Callable[[Path, "list[str]"], None]

class SessionExists(UsageError):
    """create() was given an id that is already in the store."""


class SessionStore:
    """All access to the session files of one $CLINVK_HOME."""

    def __init__(self, home: Path, warn: Callable[[str], None] | None = None,
                 read_only: bool = False, on_delete: Iterable[DeleteHook] = ()) -> None:
        self.home = Path(home)
        # called as hook(home, ids) after sessions are deleted (e.g. a derived cache's forget)
        self.on_delete: list[DeleteHook] = list(on_delete)
        self.read_only = read_only  # reads only, and leave even the derived index unchanged
        self.root = sessions_dir(self.home)
        self._warn = warn or (lambda message: None)
        self._warned: set[str] = set()
        self._index: Index | None = None
        self._lock_depth = 0
        self.lock_timeout = store_lock.DEFAULT_TIMEOUT  # seconds to wait for the lock
        # progress(label) -> a context manager yielding on_progress(done, total), for long
        # work (the index's first build, a big clean); whoever builds the store may set it
        self.progress: ProgressFactory = no_progress

    # -- plumbing --------------------------------------------------------------------
    def warn(self, message: str) -> None:
        """Pass a warning on, once per message for the life of this store."""
        if message not in self._warned:
            self._warned.add(message)
            self._warn(message)

    # -- the store package's own interface (write.py, delete.py, stats_rows.py) ----------
    def index(self) -> Index:
        """The derived index of this home (opened on first use)."""
        if self._index is None:
            self._index = Index(index_path(self.home), self.root, read_session_file, self.warn,
                                read_only=self.read_only, progress=lambda label: self.progress(label))
        return self._index

    _idx = index  # the name the tests use

    def deleted(self, session_ids: list[str]) -> None:
        """Tell every on_delete hook which sessions are gone (their files removed)."""
        if session_ids:
            for hook in self.on_delete:
                hook(self.home, list(session_ids))

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def open(self) -> None:
        """Get ready for writing ahead of the first write (a turn calls it while its backend
        starts): the folders, and the index brought up to date; StoreError as a write would."""
        self.ensure_home()
        self.index().sync()

    def check_writable(self) -> None:
        """The cheap part of `open` (no index), for a turn before it spawns its backend:
        StoreError, exit 2, when the home or sessions/ is no folder or cannot be written."""
        try:
            self.ensure_home()
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise StoreError(f"cannot write to {self.root}: permission denied (check $CLINVK_HOME)")
        except StoreError as exc:
            raise StoreError(exc.message, ExitCode.USAGE) from None

    def check_root(self) -> bool:
        """True when sessions/ is a folder, False when it (or the home) does not exist yet;
        StoreError (exit 2, a setup the user must fix) when either is something else."""
        if self.root.is_dir():
            if not os.access(self.root, os.R_OK | os.X_OK):
                raise StoreError(f"cannot read {self.root}: permission denied (check $CLINVK_HOME)",
                                 ExitCode.USAGE)
            return True
        for path in (self.home, self.root):
            if os.path.lexists(path) and not path.is_dir():
                raise StoreError(f"{path} exists and is not a folder (check $CLINVK_HOME)",
                                 ExitCode.USAGE)
        return False

    def ready(self) -> bool:
        """True when there is a sessions/ folder to read (reads never create one)."""
        if not self.check_root():
            return False
        if not self.read_only and not self._lock_depth and (self.root / JOURNAL).exists():
            try:
                with self.lock(blocking=False):  # a batch writer died: finish its batch (_claim)
                    pass
            except StoreError:  # a read-only home: read what is there
                pass
        self.index().sync()
        return True

    def ensure_home(self) -> None:
        self.check_root()
        try:
            if not self.home.is_dir():
                self.home.parent.mkdir(parents=True, exist_ok=True)
                mkdir_private(self.home)
            mkdir_private(self.root)
        except OSError as exc:
            raise store_error("create", exc) from None

    @contextmanager
    def lock(self, blocking: bool = True, wait: float | None = None,
             interruptible: bool = True) -> Iterator[bool]:
        """Hold the store's exclusive lock (re-entrant); yields False if busy and not blocking.
        Blocking waits at most `wait` seconds (default self.lock_timeout), then StoreLocked;
        Ctrl-C interrupts the wait unless not `interruptible` (store_lock.acquire)."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield True
            finally:
                self._lock_depth -= 1
            return
        self.ensure_home()
        timeout = self.lock_timeout if wait is None else wait
        with store_lock.held(lock_path(self.home), blocking, timeout, self._after_death,
                             interruptible) as got:
            if not got:
                yield False
                return
            self._lock_depth = 1
            try:
                if (self.root / JOURNAL).exists():  # a batch left unfinished (store_write)
                    self._finish_batch()
                yield True
            finally:
                self._lock_depth = 0

    def _after_death(self) -> None:
        """The last holder of the lock died holding it: finish the renames of its batch if
        it was doing them (store_write), and remove its temp files, which can belong to no
        live writer (they are only made under the lock)."""
        if self._finish_batch():  # else its temp files are kept for the next try
            sweep_temps(self.root)

    def _finish_batch(self) -> bool:
        """Under the lock: finish a batch left unfinished (recover), or warn that it cannot be."""
        if recover(self.root):
            return True
        self.warn(f"an import could not be completed yet ({self.root / JOURNAL}: a rename or "
                  "removal fails); the next clinvk command tries again")
        return False

    def _fetch(self, rows: list[IndexRow]) -> tuple[list[dict[str, Any]], bool]:
        """Read the files behind index rows; re-index any that changed behind our back."""
        records: list[dict[str, Any]] = []
        changed = False
        for row in rows:
            dirkey_, name = row.dirkey, row.name
            got = self.read_indexed(dirkey_, name)
            if got is None:
                changed = True
                continue
            record, st = got
            if (st.st_mtime_ns, st.st_size, st.st_ino) != (row.sig_mtime, row.size, row.inode):
                changed = self.index().put(dirkey_, name, record, st) or changed
            records.append(record)
        return records, changed

    def read_indexed(self, key: str, name: str) -> tuple[dict[str, Any], os.stat_result] | None:
        """Read the file behind an index row; None when it is gone (its row dropped) or
        damaged (marked as such in the index, with one warning)."""
        path = self.root / key / name
        try:
            return read_session_file(path)
        except Vanished:
            self.index().drop(key, name)
        except BadFile as exc:
            self.index().mark_bad(key, name, None, str(exc))
            self.warn(f"skipping {path}: {exc}")
        return None

    def locate(self, id_or_prefix: str) -> tuple[dict[str, Any], str, str]:
        """(record, dirkey, file name) of the one session matching id_or_prefix."""
        prefix = validate_id_or_prefix(id_or_prefix)
        if self.ready():
            for _ in range(3):
                rows = self.index().by_prefix(prefix)
                if len(rows) > 1:
                    raise _ambiguous(id_or_prefix, rows)
                records, _changed = self._fetch(rows)
                if records:
                    return records[0], rows[0].dirkey, rows[0].name
                if not rows:
                    break
        raise SessionNotFound(f"no session matches {id_or_prefix.strip()!r}")

    def _write(self, record: dict[str, Any], old: tuple[str, str] | None = None) -> None:
        key = dirkey(record["working_dir"])
        folder = self.root / key
        name = f"{record['id']}.json"
        try:
            created = mkdir_private(folder)
            before = None if created else os.lstat(folder).st_mtime_ns
            st = atomic_write(folder / name, ordered(record))
            after = os.lstat(folder).st_mtime_ns
        except OSError as exc:
            raise store_error("write session file", exc) from None
        if old is not None and old != (key, name):
            try:
                os.unlink(self.root / old[0] / old[1])
            except FileNotFoundError:
                pass
            except OSError as exc:
                self.warn(f"could not remove old copy {self.root / old[0] / old[1]}: {exc}")
            self.index().drop(*old)
        self.index().put(key, name, record, st, settle=False)
        self.index().note_write(key, before, after)

    # -- public API --------------------------------------------------------------------
    def create(self, record: dict[str, Any]) -> dict[str, Any]:
        """Store a new session; SessionExists if its id is taken."""
        try:
            clean = validate_record(record)
        except InvalidRecord as exc:
            raise StoreError(f"refusing to store an invalid session: {exc}") from None
        with self.lock():
            if self._exists(clean):
                raise SessionExists(f"session {clean['id']} already exists")
            self._write(clean)
        return clean

    def _exists(self, record: dict[str, Any]) -> bool:
        """Whether a session with this id is stored: its own folder is looked at, and the
        index as it stands (ids are random: only an import can bring a taken one, and
        the store's own writes keep the index rows current) — no rescan of every folder,
        so that creating many sessions in a row stays linear."""
        if (self.root / dirkey(record["working_dir"]) / f"{record['id']}.json").exists():
            return True
        if not self.root.is_dir():
            return False
        return bool(self.index().by_prefix(record["id"], limit=1))

    def get(self, id_or_prefix: str) -> dict[str, Any]:
        """The session with this id or unique prefix (≥ 4 characters)."""
        return self.locate(id_or_prefix)[0]

    def resolve_id(self, id_or_prefix: str) -> str:
        """The full id of the session matching id_or_prefix."""
        return self.locate(id_or_prefix)[0]["id"]

    def path_of(self, session_id: str) -> Path:
        """Where the session's file is."""
        _record, key, name = self.locate(session_id)
        return self.root / key / name

    def update(
        self, session_id: str, fn: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Read-modify-write under the store lock: fn mutates the record or returns a new one."""
        if not self.root.is_dir():
            self.locate(session_id)  # raises: never create a home just to fail
        with self.lock():
            record, key, name = self.locate(session_id)
            sid = record["id"]
            result = fn(record)
            result = record if result is None else result
            try:
                clean = validate_record(result, expected_id=sid)
            except InvalidRecord as exc:
                raise StoreError(f"refusing to write invalid session {sid}: {exc}") from None
            self._write(clean, old=(key, name))
        return clean

    def list(self, selection: SessionFilter | None = None, /, **changes: Any) -> list[dict[str, Any]]:
        """Full session records matching selection, in its order and within its limit; keyword
        arguments are SessionFilter fields (over selection's)."""
        selection = SessionFilter.of(selection, **changes)
        if not self.ready():
            return []
        records: list[dict[str, Any]] = []
        for _ in range(3):
            records, changed = self._fetch(self.index().select(selection))
            if not changed:
                break
        return records

    def count(self, selection: SessionFilter | None = None, /, **changes: Any) -> int:
        """How many sessions match (as list, without its limit)."""
        selection = SessionFilter.of(selection, **changes)
        if not self.ready():
            return 0
        return self.index().count(selection)

    def query(self, sql: str, selection: SessionFilter | None = None, /, *,
              params: tuple[Any, ...] = (), **changes: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only SQL query over the up-to-date index (index_schema's columns);
        `{where}` in sql becomes the WHERE clause of selection (list's), placed before params."""
        selection = SessionFilter.of(selection, **changes)
        if not self.ready():
            return []
        where, wparams = index_where(selection)
        return self.index().fetch(sql.format(where=where), [*wparams, *params])

    def latest_resumable(
        self, *, working_dir: str | os.PathLike[str] | None = None, backend: str | None = None
    ) -> dict[str, Any] | None:
        """The most recently used session that has a backend_session_id."""
        found = self.list(working_dir=working_dir, backend=backend, resumable=True, limit=1)
        return found[0] if found else None

    def iter_records(self) -> Iterator[dict[str, Any]]:
        """Every valid session, read straight from the files (no index)."""
        for key, name in iter_files(self.root):
            path = self.root / key / name
            try:
                yield read_session_file(path)[0]
            except Vanished:
                continue
            except BadFile as exc:
                self.warn(f"skipping {path}: {exc}")


def _ambiguous(given: str, rows: list[IndexRow]) -> AmbiguousPrefix:
    lines = [f"  {row.id}  {row.backend:<8} {row.title}" for row in rows[:10]]
    more = "\n  ..." if len(rows) > 10 else ""
    return AmbiguousPrefix(
        f"session id prefix {given.strip()!r} is ambiguous; it matches:\n"
        + "\n".join(lines) + more
    )
