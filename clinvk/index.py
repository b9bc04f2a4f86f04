"""Derived SQLite index of the session files, so lookups need not read every file.

Session files stay the source of truth; this index (paths.index_path) can be deleted at
any time. Tables: `sessions` (one row per valid file: id, dirkey, name, file signature
(mtime_ns, size, inode), and the fields used to filter and sort), `dirs` (each folder
under sessions/ with the mtime_ns it had when last scanned), `skipped` (bad files with
their signature and reason, so every listing still warns about them) and `meta` (the
mtime of sessions/ itself). PRAGMA user_version holds the index schema version.

Staleness: sync() stats sessions/ (re-listing it when its mtime changed) and every
folder; a folder whose mtime differs from the recorded one is re-listed and only files
whose signature changed are re-read. Mtimes younger than RACY_NS are recorded as -1
("check again"), since a change within the same timestamp tick would not move them.
The store updates rows in its locked write section and advances a folder's recorded
mtime only if it matched the folder before the write. Callers re-stat the files they
return and feed changed ones back through put(). WAL journal, synchronous=NORMAL: a
SIGKILL loses at most uncommitted work. A damaged file is deleted and rebuilt; an index
that cannot be opened or written (read-only home, locked) falls back to memory.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.index_schema import (
    DERIVED_TABLES,
    ORDERS,
    ROW_COLS,
    SCHEMA,
    VALUE_COLS,
    row_values,
    where,
)

if TYPE_CHECKING:
    from clinvk.filters import SessionFilter

# 2: model, token fields, cost, turn durations; 3: backend_session_id; 4: durations as JSON,
# per-backend totals, turn durations and their buckets kept by triggers (stats)
INDEX_VERSION = 4
RACY_NS = 2_000_000_000
STALE_TEMP_SECONDS = 3600
Reader = Callable[[Path], "tuple[dict[str, Any], os.stat_result]"]

_SCHEMA = SCHEMA
_VALUE_COLS = VALUE_COLS
_ORDERS = ORDERS


class BadFile(Exception):
    """A file under sessions/ that is not a readable, valid session; str() is the reason."""


def settled(mtime_ns: int, now_ns: int | None = None) -> int:
    """The mtime to record, or -1 when it is too recent to prove nothing else changed."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return mtime_ns if now_ns - mtime_ns > RACY_NS else -1


_where = where


class Index:
    """The index of one store; opened lazily, self-healing, memory-backed if it must be."""

    def __init__(self, db_path: Path, sessions_dir: Path, reader: Reader, warn: Callable,
                 read_only: bool = False) -> None:
        self.db_path = db_path
        self.root = sessions_dir
        self.reader = reader
        self.warn = warn
        self._db: Any = None
        self.in_memory = False
        # read-only: bring the index up to date inside one transaction that is rolled back
        # on close, so that nothing on disk changes (for --ephemeral and --dry-run)
        self.read_only = read_only

    # -- connection and recovery -------------------------------------------------------
    def _connect(self) -> Any:
        import sqlite3

        if self.read_only and not self.in_memory:
            if not self.db_path.is_file():
                self.in_memory = True
            else:
                db = sqlite3.connect(self.db_path, timeout=15)
                db.isolation_level = None
                if db.execute("PRAGMA user_version").fetchone()[0] == INDEX_VERSION:
                    db.execute("PRAGMA recursive_triggers=ON")
                    db.execute("BEGIN")
                    return db
                db.close()
                self.in_memory = True
        if not self.in_memory:
            try:
                fd = os.open(self.db_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                os.close(fd)
                return self._setup(sqlite3.connect(self.db_path, timeout=15))
            except sqlite3.OperationalError:
                self.in_memory = True
            except sqlite3.DatabaseError:
                self._remove_files()
                try:
                    return self._setup(sqlite3.connect(self.db_path, timeout=15))
                except sqlite3.DatabaseError:
                    self.in_memory = True
            except OSError:
                self.in_memory = True
        return self._setup(sqlite3.connect(":memory:"))

    def _setup(self, db: Any) -> Any:
        try:
            db.isolation_level = None
            version = db.execute("PRAGMA user_version").fetchone()[0]
            db.execute("PRAGMA recursive_triggers=ON")  # REPLACE must fire the delete triggers
            if not self.in_memory:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
            if version != INDEX_VERSION:
                drops = "".join(f"DROP TABLE IF EXISTS {t};" for t in DERIVED_TABLES)
                db.executescript(f"BEGIN IMMEDIATE;{drops}{_SCHEMA}"
                                 f"PRAGMA user_version={INDEX_VERSION};COMMIT;")
            return db
        except BaseException:
            db.close()
            raise

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.db_path}{suffix}")
            except OSError:
                pass

    def close(self) -> None:
        if self._db is not None:
            if self.read_only and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.close()
            self._db = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args); on a damaged or unusable index, rebuild it and retry."""
        import sqlite3

        for attempt in range(3):
            try:
                if self._db is None:
                    self._db = self._connect()
                    if attempt:
                        self._sync(self._db)
                return fn(self._db, *args)
            except sqlite3.DatabaseError as exc:
                self.close()
                text = str(exc).lower()
                if isinstance(exc, sqlite3.OperationalError) and any(
                    word in text for word in ("locked", "busy", "readonly", "read-only", "open")
                ):
                    self.in_memory = True
                elif not self.in_memory:
                    self._remove_files()
        raise RuntimeError("session index unusable")  # pragma: no cover

    # -- public operations ---------------------------------------------------------------
    def sync(self) -> None:
        """Bring the index up to date with the files, then warn about every skipped file."""
        self._call(self._sync)
        rows = self._call(lambda db: db.execute("SELECT dirkey, name, reason FROM skipped "
                                                "ORDER BY dirkey, name").fetchall())
        for dirkey, name, reason in rows:
            self.warn(f"skipping {self.root / dirkey / name}: {reason}")

    def select(self, selection: SessionFilter) -> list[tuple[Any, ...]]:
        """Rows (id, dirkey, name, sig_mtime, size, inode, *values) matching selection, in
        its order, within its limit and offset."""
        column, desc = _ORDERS[selection.order]
        direction = "ASC" if desc == selection.reverse else "DESC"
        where, params = _where(selection)
        sql = (
            "SELECT id, dirkey, name, sig_mtime, size, inode, " + ", ".join(_VALUE_COLS) +
            f" FROM sessions{where} ORDER BY {column} {direction}, "
            f"written_ns {direction}, id {direction} LIMIT ? OFFSET ?"
        )
        limit = selection.limit
        params += [-1 if limit is None else int(limit), int(selection.offset)]
        return self._call(lambda db: db.execute(sql, params).fetchall())

    def count(self, selection: SessionFilter) -> int:
        """How many rows match selection (its order and limit aside)."""
        where, params = _where(selection)
        sql = f"SELECT count(*) FROM sessions{where}"
        return self._call(lambda db: db.execute(sql, params).fetchone()[0])

    def fetch(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query over the index tables (see index_schema)."""
        return self._call(lambda db: db.execute(sql, params).fetchall())

    def by_prefix(self, prefix: str, limit: int = 11) -> list[tuple[Any, ...]]:
        """Rows (as select() returns them) whose id starts with prefix."""
        sql = ("SELECT id, dirkey, name, sig_mtime, size, inode, " + ", ".join(_VALUE_COLS) +
               " FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?")
        return self._call(lambda db: db.execute(sql, (prefix, prefix + "g", limit)).fetchall())

    def put(self, dirkey: str, name: str, record: dict, st: os.stat_result,
            settle: bool = True) -> bool:
        """Record one valid file; True when its indexed values changed."""
        return self._call(self._txn, self._put, dirkey, name, record, st, settle)

    def drop(self, dirkey: str, name: str) -> None:
        self._call(self._txn, self._drop, dirkey, name)

    def drop_many(self, files: list[tuple[str, str]]) -> None:
        """Forget many (dirkey, name) files in one transaction (bulk delete, e.g. clean)."""
        def apply(db: Any) -> None:
            for table in ("sessions", "skipped"):
                db.executemany(f"DELETE FROM {table} WHERE dirkey = ? AND name = ?", files)
        if files:
            self._call(self._txn, apply)

    def mark_bad(self, dirkey: str, name: str, st: os.stat_result | None, reason: str) -> None:
        self._call(self._txn, self._bad, dirkey, name, st, reason)

    def note_write(self, dirkey: str, before: int | None, after: int) -> None:
        """Advance a folder's mtime only if it matched the folder before our write."""
        def apply(db: Any) -> None:
            if before is None:
                db.execute("INSERT OR IGNORE INTO dirs VALUES (?, NULL)", (dirkey,))
            else:
                db.execute("UPDATE dirs SET mtime = ? WHERE dirkey = ? AND mtime = ?",
                           (settled(after), dirkey, before))
        self._call(self._txn, apply)

    # -- implementation ------------------------------------------------------------------
    @staticmethod
    def _txn(db: Any, fn: Callable[..., Any], *args: Any) -> Any:
        if db.in_transaction:  # read-only mode: all inside the transaction rolled back on close
            return fn(db, *args)
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db, *args)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return result

    def _put(self, db: Any, dirkey: str, name: str, record: dict, st: Any, settle: bool) -> bool:
        values = row_values(record)
        old = db.execute("SELECT dirkey, name, " + ", ".join(_VALUE_COLS) +
                         " FROM sessions WHERE id = ?", (record["id"],)).fetchone()
        if old and (old[0], old[1]) != (dirkey, name):
            other = self.root / old[0] / old[1]
            if os.path.lexists(other):
                self._bad(db, dirkey, name, st, f"duplicate id, also in {other}")
                return False
        mtime = settled(st.st_mtime_ns) if settle else st.st_mtime_ns
        db.execute("DELETE FROM skipped WHERE dirkey = ? AND name = ?", (dirkey, name))
        db.execute("DELETE FROM sessions WHERE dirkey = ? AND name = ?", (dirkey, name))
        db.execute("INSERT OR REPLACE INTO sessions VALUES (" + ",".join("?" * ROW_COLS) + ")",
                   (record["id"], dirkey, name, mtime, st.st_size, st.st_ino,
                    st.st_mtime_ns, *values))
        return old is None or tuple(old[2:]) != values

    @staticmethod
    def _drop(db: Any, dirkey: str, name: str) -> None:
        db.execute("DELETE FROM sessions WHERE dirkey = ? AND name = ?", (dirkey, name))
        db.execute("DELETE FROM skipped WHERE dirkey = ? AND name = ?", (dirkey, name))

    def _bad(self, db: Any, dirkey: str, name: str, st: Any, reason: str) -> None:
        self._drop(db, dirkey, name)
        sig = (settled(st.st_mtime_ns), st.st_size, st.st_ino) if st else (-1, -1, -1)
        db.execute("INSERT INTO skipped VALUES (?, ?, ?, ?, ?, ?)", (dirkey, name, *sig, reason))

    def _sync(self, db: Any) -> None:
        try:
            root_mtime = os.stat(self.root).st_mtime_ns
        except OSError:
            root_mtime = None
        row = db.execute("SELECT value FROM meta WHERE key = 'root'").fetchone()
        known = dict(db.execute("SELECT dirkey, mtime FROM dirs").fetchall())
        work: list[Callable[[Any], None]] = []
        if root_mtime is None or row is None or row[0] != root_mtime:
            known = self._scan_root(root_mtime, known, work)
        for dirkey, recorded in known.items():
            try:
                st = os.lstat(self.root / dirkey)
            except OSError:
                work.append(lambda db, k=dirkey: self._forget_dir(db, k))
                continue
            if recorded is None or st.st_mtime_ns != recorded:
                work.append(self._scan_dir(db, dirkey, st.st_mtime_ns))
        if work:
            self._txn(db, lambda db: [step(db) for step in work])

    def _scan_root(self, root_mtime: int | None, known: dict, work: list) -> dict:
        dirs: dict[str, int | None] = {}
        bad: list[tuple[str, Any, str]] = []
        try:
            with os.scandir(self.root) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        dirs[entry.name] = known.get(entry.name)
                    else:
                        reason = "symbolic link" if entry.is_symlink() else "not a folder"
                        bad.append((entry.name, entry.stat(follow_symlinks=False), reason))
        except OSError:
            root_mtime = None

        def apply(db: Any) -> None:
            db.execute("DELETE FROM skipped WHERE dirkey = ''")
            for name, st, reason in bad:
                self._bad(db, "", name, st, reason)
            for gone in set(known) - set(dirs):
                self._forget_dir(db, gone)
            db.executemany("INSERT OR IGNORE INTO dirs VALUES (?, NULL)", [(k,) for k in dirs])
            value = -1 if root_mtime is None else settled(root_mtime)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('root', ?)", (value,))
        work.append(apply)
        return dirs

    @staticmethod
    def _forget_dir(db: Any, dirkey: str) -> None:
        for table in ("sessions", "skipped", "dirs"):
            db.execute(f"DELETE FROM {table} WHERE dirkey = ?", (dirkey,))

    def _scan_dir(self, db: Any, dirkey: str, dir_mtime: int) -> Callable[[Any], None]:
        """Re-list one folder; returns the step that applies what changed."""
        sigs = {name: tuple(sig) for name, *sig in db.execute(
            "SELECT name, sig_mtime, size, inode FROM sessions WHERE dirkey = ? UNION ALL "
            "SELECT name, sig_mtime, size, inode FROM skipped WHERE dirkey = ?",
            (dirkey, dirkey))}
        seen: set[str] = set()
        good: list[tuple[str, dict, Any]] = []
        bad: list[tuple[str, Any, str]] = []
        folder = self.root / dirkey
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        _reap_temp(entry)
                        continue
                    seen.add(entry.name)
                    st = entry.stat(follow_symlinks=False)
                    if sigs.get(entry.name) == (st.st_mtime_ns, st.st_size, st.st_ino):
                        continue
                    try:
                        record, fst = self.reader(folder / entry.name)
                        good.append((entry.name, record, fst))
                    except BadFile as exc:
                        bad.append((entry.name, st, str(exc)))
        except OSError:
            dir_mtime = -1

        def apply(db: Any) -> None:
            for name in set(sigs) - seen:
                self._drop(db, dirkey, name)
            for name, record, fst in good:
                self._put(db, dirkey, name, record, fst, True)
            for name, st, reason in bad:
                self._bad(db, dirkey, name, st, reason)
            db.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?)", (dirkey, settled(dir_mtime)))
        return apply


def _reap_temp(entry: os.DirEntry[str]) -> None:
    """Remove a temp file a killed writer left behind (only once it is an hour old)."""
    if entry.name.endswith(".tmp"):
        try:
            if time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_TEMP_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass


def iter_files(root: Path) -> Iterable[tuple[str, str]]:
    """Every (dirkey, name) of a candidate session file under root, in a stable order."""
    try:
        folders = sorted(e.name for e in os.scandir(root)
                         if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))
    except OSError:
        return
    for dirkey in folders:
        try:
            names = sorted(e.name for e in os.scandir(root / dirkey) if not e.name.startswith("."))
        except OSError:
            continue
        yield from ((dirkey, name) for name in names)
