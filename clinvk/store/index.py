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
return and feed changed ones back through put(). WAL journal, synchronous=OFF: a SIGKILL
loses at most uncommitted work, only an OS crash or power cut can damage the file (the
session files themselves are fsync'ed). NORMAL would fsync at every close, when the last
connection folds the WAL back: 2–4 ms at the end of every turn (issue 9 §8). A damaged file
is deleted and rebuilt; an index that cannot be opened or written (read-only home, locked)
falls back to memory.
"""

from __future__ import annotations

import os
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from clinvk.store.record_check import SCHEMA_VERSION
from clinvk.store.schema import (
    BSID_INDEX,
    DERIVED_TABLES,
    ORDERS,
    ROW_COLS,
    SCHEMA,
    VALUE_COLS,
    row_values,
    where,
)
from clinvk.store.sync import (  # noqa: F401  (re-exported)
    BadFile,
    ProgressFactory,
    Sync,
    iter_files,
    no_progress,
    settled,
)

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

    from clinvk.store.selection import SessionFilter

# 2: model, token fields, cost, turn durations; 3: backend_session_id; 4: durations as JSON,
# per-backend totals, turn durations and their buckets kept by triggers (stats); 5: token
# columns named as in the session file (cached_input_tokens, cache_creation_input_tokens)
INDEX_VERSION = 5
# what PRAGMA user_version holds: the index is also derived from records of one schema
# version (a file skipped as newer becomes readable once clinvk is updated): rebuilt if
# either changes
USER_VERSION = INDEX_VERSION * 1000 + SCHEMA_VERSION
Reader = Callable[[Path], "tuple[dict[str, Any], os.stat_result]"]

_SCHEMA = SCHEMA
_VALUE_COLS = VALUE_COLS
_ORDERS = ORDERS
_ROW_SQL = "SELECT id, dirkey, name, sig_mtime, size, inode, " + ", ".join(VALUE_COLS)

# one session's row: its file (dirkey, name), the signature it had when indexed (sig_mtime,
# size, inode) and its indexed values (schema.VALUE_COLS)
# (collections.namedtuple: typing, for its NamedTuple, costs ~5 ms while a backend starts)
IndexRow = namedtuple("IndexRow", ["id", "dirkey", "name", "sig_mtime", "size", "inode",
                                   *VALUE_COLS])


class SkippedRow(namedtuple("SkippedRow", ["dirkey", "name", "reason"])):
    """A file under sessions/ that no listing shows, and why: dirkey, name, reason."""

    __slots__ = ()


def remove_database(path: Path | str) -> None:
    """Unlink an SQLite database file and its -wal, -shm and -journal files, where they exist."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except OSError:
            pass


_where = where


class Index(Sync):
    """The index of one store; opened lazily, self-healing, memory-backed if it must be."""

    def __init__(self, db_path: Path, sessions_dir: Path, reader: Reader, warn: Callable,
                 read_only: bool = False, progress: ProgressFactory = no_progress) -> None:
        self.db_path = db_path
        self.root = sessions_dir
        self.reader = reader
        self.warn = warn
        self.progress = progress  # shows a long scan (the first build of a big index)
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
                if db.execute("PRAGMA user_version").fetchone()[0] == USER_VERSION:
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
                db.execute("PRAGMA synchronous=OFF")  # derived data: see the module's doc
            if version != USER_VERSION:
                drops = "".join(f"DROP TABLE IF EXISTS {t};" for t in DERIVED_TABLES)
                db.executescript(f"BEGIN IMMEDIATE;{drops}{_SCHEMA}"
                                 f"PRAGMA user_version={USER_VERSION};COMMIT;")
            elif not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions_bsid'").fetchone():
                db.execute(BSID_INDEX)  # an index built before it had this one
            return db
        except BaseException:
            db.close()
            raise

    def _remove_files(self) -> None:
        remove_database(self.db_path)

    def close(self) -> None:
        if self._db is not None:
            if self.read_only and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.close()
            self._db = None

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn(db, *args); on a damaged or unusable index, rebuild it and retry."""
        import sqlite3

        last: Exception | None = None
        for attempt in range(3):
            try:
                if self._db is None:
                    self._db = self._connect()
                    if attempt:
                        self._sync(self._db)
                return fn(self._db, *args)
            except sqlite3.DatabaseError as exc:
                last = exc
                self.close()
                text = str(exc).lower()
                if isinstance(exc, sqlite3.OperationalError) and any(  # "full": a full disk
                    word in text for word in ("locked", "busy", "readonly", "read-only", "open",
                                              "full", "disk i/o")
                ):
                    self.in_memory = True
                elif not self.in_memory:
                    self._remove_files()
        from clinvk.errors import StoreError

        raise StoreError(f"the session index cannot be used: {last}")

    # -- public operations ---------------------------------------------------------------
    def sync(self) -> None:
        """Bring the index up to date with the files, then warn about every skipped file."""
        self._call(self._sync)
        rows = self._call(lambda db: db.execute("SELECT dirkey, name, reason FROM skipped "
                                                "ORDER BY dirkey, name").fetchall())
        for dirkey, name, reason in rows:
            self.warn(f"skipping {self.root / dirkey / name}: {reason}")

    def select(self, selection: SessionFilter) -> list[IndexRow]:
        """The rows matching selection, in its order, within its limit and offset."""
        column, desc = _ORDERS[selection.order]
        direction = "ASC" if desc == selection.reverse else "DESC"
        where, params = _where(selection)
        sql = (
            f"{_ROW_SQL} FROM sessions{where} ORDER BY {column} {direction}, "
            f"written_ns {direction}, id {direction} LIMIT ? OFFSET ?"
        )
        limit = selection.limit
        params += [-1 if limit is None else int(limit), int(selection.offset)]
        return self._rows(sql, params)

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...]) -> list[IndexRow]:
        return [IndexRow._make(row) for row in self.fetch(sql, params)]

    def count(self, selection: SessionFilter) -> int:
        """How many rows match selection (its order and limit aside)."""
        where, params = _where(selection)
        sql = f"SELECT count(*) FROM sessions{where}"
        return self._call(lambda db: db.execute(sql, params).fetchone()[0])

    def fetch(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query over the index tables (see index_schema)."""
        return self._call(lambda db: db.execute(sql, params).fetchall())

    def by_prefix(self, prefix: str, limit: int = 11) -> list[IndexRow]:
        """The rows whose id starts with prefix."""
        sql = f"{_ROW_SQL} FROM sessions WHERE id >= ? AND id < ? ORDER BY id LIMIT ?"
        return self._rows(sql, (prefix, prefix + "g", limit))

    def skipped_from(self, prefix: str) -> list[SkippedRow]:
        """The skipped files inside a folder whose name starts with prefix (by name, folder)."""
        sql = ("SELECT dirkey, name, reason FROM skipped WHERE name >= ? AND name < ? "
               "AND dirkey != '' ORDER BY name, dirkey")
        return [SkippedRow._make(row) for row in self.fetch(sql, (prefix, prefix + "g"))]

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

    @contextmanager
    def batch(self) -> Iterator[None]:
        """The writes inside in one transaction (a batch of thousands: one commit)."""
        db = self._call(lambda db: db)
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if db is self._db and db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if db is self._db and db.in_transaction:
            db.execute("COMMIT")

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
