"""Bringing the index up to date with the folders under sessions/ (the part of the Index
that reads the disk; see index.py for the staleness rules): sessions/ is re-listed when its
mtime changed, a folder whose mtime differs from the recorded one is re-listed, and only the
files whose signature (mtime_ns, size, inode) changed are read again."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

RACY_NS = 2_000_000_000
STALE_TEMP_SECONDS = 3600
# progress of long work: on_progress(done, total), from a factory taking the work's label
# (a context manager, so that whoever shows it clears it at the end); the store's default
# shows nothing, App passes clinvk.progress's
ProgressCallback = Callable[..., None]
ProgressFactory = Callable[[str], AbstractContextManager[ProgressCallback]]


class BadFile(Exception):
    """A file under sessions/ that is not a readable, valid session; str() is the reason."""


def settled(mtime_ns: int, now_ns: int | None = None) -> int:
    """The mtime to record, or -1 when it is too recent to prove nothing else changed."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    return mtime_ns if now_ns - mtime_ns > RACY_NS else -1


class Sync:
    """The scan of an Index (a mixin: it uses the Index's root, reader, _txn, _put, _drop and
    _bad)."""

    root: Path
    reader: Callable[[Path], Any]
    _txn: Callable[..., Any]
    _put: Callable[..., bool]
    _drop: Callable[..., None]
    _bad: Callable[..., None]
    progress: ProgressFactory

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
        changed: list[tuple[str, int, list[os.DirEntry[str]] | None]] = []
        for dirkey, recorded in known.items():
            try:
                st = os.lstat(self.root / dirkey)
            except OSError:
                work.append(lambda db, k=dirkey: self._forget_dir(db, k))
                continue
            if recorded is None or st.st_mtime_ns != recorded:
                changed.append((dirkey, st.st_mtime_ns, _listing(self.root / dirkey)))
        total = sum(len(entries or ()) for _, _, entries in changed)
        reads, writes = _Counter(total), _Counter(0)
        with self.progress("reading sessions") as reads.on_progress:
            for dirkey, dir_mtime, entries in changed:
                work.append(self._scan_dir(db, dirkey, dir_mtime, entries, reads, writes))
        if work:
            with self.progress("indexing sessions") as writes.on_progress:
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

    def _scan_dir(self, db: Any, dirkey: str, dir_mtime: int,
                  entries: list[os.DirEntry[str]] | None, reads: _Counter,
                  writes: _Counter) -> Callable[[Any], None]:
        """Read what changed in one listed folder (entries None: it could not be listed);
        returns the step that applies it."""
        sigs = {name: tuple(sig) for name, *sig in db.execute(
            "SELECT name, sig_mtime, size, inode FROM sessions WHERE dirkey = ? UNION ALL "
            "SELECT name, sig_mtime, size, inode FROM skipped WHERE dirkey = ?",
            (dirkey, dirkey))}
        seen: set[str] = set()
        good: list[tuple[str, dict, Any]] = []
        bad: list[tuple[str, Any, str]] = []
        folder = self.root / dirkey
        try:
            if entries is None:
                raise OSError("not listed")
            for entry in entries:
                reads.tick()
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
        writes.total += len(good)

        def apply(db: Any) -> None:
            for name in set(sigs) - seen:
                self._drop(db, dirkey, name)
            for name, record, fst in good:
                self._put(db, dirkey, name, record, fst, True)
                writes.tick()
            for name, st, reason in bad:
                self._bad(db, dirkey, name, st, reason)
            db.execute("INSERT OR REPLACE INTO dirs VALUES (?, ?)", (dirkey, settled(dir_mtime)))
        return apply


class _Counter:
    """Counts the files read (or indexed) and passes (done, total) on to a progress callback."""

    def __init__(self, total: int) -> None:
        self.on_progress: ProgressCallback = _ignore
        self.total = total
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        self.on_progress(self.done, self.total)


def _listing(folder: Path) -> list[os.DirEntry[str]] | None:
    """The entries of one folder, or None when it cannot be listed."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError:
        return None


def _ignore(done: int, total: int | None = None) -> None:
    pass


def no_progress(label: str) -> AbstractContextManager[ProgressCallback]:
    """The default progress of a store: nothing shown."""
    return nullcontext(_ignore)


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
