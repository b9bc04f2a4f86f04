"""The transcript archive: a gzip copy of each session's backend store files, kept so that a
conversation the backend deleted (claude's `cleanupPeriodDays`, gemini's
`general.sessionRetention`, a pruned codex folder) can still be read and resumed.

Layout: `$CLINVK_HOME/archive/<clinvk session id>/<path relative to the adapter's
store_root>.gz`, one gzip per file `adapter.session_files` names; files 0600, folders 0700,
written atomically. `record["archive"]` = {"bytes": total size of the .gz files, "sha256":
over the sorted (relative path, NUL, content, NUL) of the original files, "at": when
written}: a transcript whose digest is unchanged is not archived again.

- `refresh(app, record)`: archive the session's current files when enabled (archive.enabled
  and session.store_prompts, never for --ephemeral / --dry-run) and changed; returns the
  record's new `archive` value (or None: nothing to do). It never writes the record: the
  caller puts the value into its own write.
- `restore(app, record)`: when the backend's store has none of the session's files any
  more, write the archived ones back exactly where the backend looks (never over a file).
- `remove(home, session_ids)`: the store's on_delete hook.
Reading (plain copies for show/search/hand-over) is in archive_read. No Click here.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

from clinvk.archive_read import (
    SUFFIX,
    ArchiveDamaged,
    archived,
    read_gz,
    relative_under,
    remove,
    session_folder,
)
from clinvk.hashing import sha256
from clinvk.records import Record, factory

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

__all__ = ["RecorderArchive", "Staged", "backend_items", "digest", "enabled", "pack", "prepare",
           "refresh", "remove", "restore", "stage", "write_items", "write_staged"]

if TYPE_CHECKING:
    from typing import Any

    from clinvk.app import App
    from clinvk.backends.base import Adapter

# gzip level 1: a claude transcript of 140 kB shrinks to a third in 2 ms (level 6: 15 % smaller
# but 7 ms), and a turn's copy is made between the backend's exit and clinvk's (issue 9 §8)
LEVEL = 1


def enabled(app: App) -> bool:
    """Whether turns of this process are archived."""
    settings = app.settings
    return (not app.changes_nothing and bool(settings.get("archive.enabled"))
            and bool(settings.get("session.store_prompts")))


def digest(items: Iterable[tuple[str, bytes]]) -> str:
    """sha256 over the sorted (relative path, NUL, content, NUL) of a session's files."""
    h = sha256()
    for rel, data in sorted(items):
        h.update(rel.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
        h.update(data)
        h.update(b"\0")
    return h.hexdigest()


def backend_items(adapter: Adapter, environ: dict[str, str],
                  record: dict[str, Any]) -> list[tuple[str, bytes]]:
    """(path relative to the store root, content) of the session's backend files now."""
    session_id = record.get("backend_session_id")
    if not session_id:
        return []
    root = adapter.store_root(environ)
    items: dict[str, bytes] = {}
    for path in adapter.session_files(session_id, record["working_dir"], environ):
        rel = relative_under(Path(path), root)
        if rel is None or rel in items:
            continue
        try:
            with open(path, "rb") as fh:
                items[rel] = fh.read()
        except FileNotFoundError:
            continue
    return sorted(items.items())


def refresh(app: App, record: dict[str, Any]) -> dict[str, Any] | None:
    """Archive the session's backend files when enabled and changed since the record's
    archive; the record's new `archive` value, or None (disabled, nothing to archive,
    unchanged, or it failed: then one warning)."""
    staged = prepare(app, record)
    if staged is None or not write_staged(app, record, staged):
        return None
    return staged.value


class Staged(Record):
    """A refresh worked out but not on disk yet: the record's new `archive` value, the gzip
    copies to write (under `base`, the archive's root) and the copies to remove; `copies`:
    each file's content, its gzip copy and whether that must be written (for a later stage
    of the same files to reuse)."""

    value: dict[str, Any]
    base: Path
    writes: list[tuple[Path, bytes]]
    stale: list[Path]
    copies: dict[str, tuple[bytes, bytes, bool]] = factory(dict)

    def write(self) -> None:
        """Write the copies (0600, in folders 0700) and remove the stale ones. Each copy is
        a fsynced temp file renamed over the old one (clinvk.atomic), the folder not fsynced
        after: a crash then leaves the old copy or the new one, whole, and an old one whose
        size differs from the record's is written again by the next refresh."""
        from clinvk.atomic import discard, stage

        for target, data in self.writes:
            _private_dirs(self.base, target.parent)
            tmp, _st = stage(target, data)
            try:
                os.replace(tmp, target)
            except BaseException:
                discard(tmp)
                raise
        for path in self.stale:
            _unlink(path)


def prepare(app: App, record: dict[str, Any], earlier: Staged | None = None,
            quiet: bool = False) -> Staged | None:
    """refresh's reading and compressing, without writing (a caller may write the copies
    while it writes the record: Staged.write); None when there is nothing to write.
    `earlier`: a stage of the same files moments ago, whose copies are reused for what did
    not change since. A failure is one warning (none when `quiet`)."""
    if not enabled(app) or not record.get("backend_session_id"):
        return None
    from clinvk.transcripts.access import adapter_for

    try:
        adapter, environ = adapter_for(app, record["backend"])
        items = backend_items(adapter, environ, record)
        return stage(app.settings.home, record, items, earlier) if items else None
    except Exception as exc:  # an archive that fails never fails the turn
        if not quiet:
            _warn(app, record, exc)
        return None


class RecorderArchive:
    """The Recorder's archiver. Called as a turn ends: the record's new `archive` value and
    the write of the copies (done while the record is written), or None when nothing
    changed. `early(record)`, when the backend says the turn is done but has not exited yet
    (claude 60-80 ms before its exit, codex ~40, gemini ~150), reads and compresses the
    files then: the call at the end redoes only what changed since (claude appends a line
    as it exits), instead of compressing the whole transcript after the exit (issue 9 §8)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.earlier: Staged | None = None

    def early(self, record: dict[str, Any]) -> None:
        self.earlier = prepare(self.app, record, quiet=True)

    def __call__(self, record: dict[str, Any]) -> tuple[dict[str, Any], Callable[[], bool]] | None:
        staged = prepare(self.app, record, self.earlier)
        self.earlier = None
        if staged is None:
            return None
        return staged.value, lambda: write_staged(self.app, record, staged)


def stage_paths(app: App, record: dict[str, Any], paths: list[Path]) -> Staged | None:
    """`prepare` for store files already known (an adopt has just read them): no look-up of
    the session's files; None when disabled, unchanged or failed (then one warning)."""
    if not enabled(app):
        return None
    from clinvk.transcripts.access import adapter_for

    try:
        adapter, environ = adapter_for(app, record["backend"])
        root = adapter.store_root(environ)
        items: dict[str, bytes] = {}
        for path in paths:
            rel = relative_under(Path(path), root)
            if rel is not None and rel not in items:
                items[rel] = Path(path).read_bytes()
        return stage(app.settings.home, record, sorted(items.items())) if items else None
    except Exception as exc:  # an archive that fails never fails the adopt
        _warn(app, record, exc)
        return None


def write_staged(app: App, record: dict[str, Any], staged: Staged) -> bool:
    """Staged.write; False (and one warning) when it failed. A record that names a copy
    that was not written is repaired by the next refresh (the copies' sizes differ)."""
    try:
        staged.write()
    except Exception as exc:  # in the Recorder's thread too: one warning, never a traceback
        _warn(app, record, exc)
        return False
    return True


def _warn(app: App, record: dict[str, Any], exc: Exception) -> None:
    why = getattr(exc, "strerror", None) or getattr(exc, "message", None) or exc
    app.env.warn(f"session {record['id'][:8]}: the transcript was not archived: {why}")


def write_items(home: Path, record: dict[str, Any],
                items: list[tuple[str, bytes]]) -> dict[str, Any] | None:
    """Archive these (relative path, content) as the session's files now (see `stage`);
    the new `archive` value, or None when the archive holds them already."""
    staged = stage(home, record, items)
    if staged is None:
        return None
    staged.write()
    return staged.value


def stage(home: Path, record: dict[str, Any], items: list[tuple[str, bytes]],
          earlier: Staged | None = None) -> Staged | None:
    """The copies of these (relative path, content) to write, unless the record's archive
    holds them already (same digest, its files all there at the size it gives); `earlier`:
    see prepare."""
    from clinvk.backends._relocate import check_rel_path
    from clinvk.clock import format_rfc3339, utc_now

    folder = session_folder(home, record["id"])
    sha = digest(items)
    old = dict(archived(home, record["id"]))
    if _current(record.get("archive"), sha, old, [rel for rel, _ in items]):
        return None
    total = 0
    writes = []
    copies: dict[str, tuple[bytes, bytes, bool]] = {}
    for rel, data in items:
        target = folder.joinpath(*check_rel_path(rel + SUFFIX))
        reused = _reused(earlier, rel, data)
        if reused is None:
            before = _read_old(old.get(rel))
            packed = pack(before, data)
            reused = packed, packed is not before
        packed, changed = reused
        if changed:
            writes.append((target, packed))
        copies[rel] = (data, packed, changed)
        total += len(packed)
    keep = {rel for rel, _ in items}
    stale = [path for rel, path in old.items() if rel not in keep]
    value = {"bytes": total, "sha256": sha, "at": format_rfc3339(utc_now())}
    return Staged(value, folder.parent, writes, stale, copies)


def _reused(earlier: Staged | None, rel: str, data: bytes) -> tuple[bytes, bool] | None:
    """The copy of `data` from an earlier stage of the same file, and whether it must be
    written: as it was when the file is unchanged, with the new tail as one more gzip member
    when the file grew; None when there is no such stage or the file changed otherwise."""
    if earlier is None or rel not in earlier.copies:
        return None
    content, packed, changed = earlier.copies[rel]
    if data == content:
        return packed, changed
    if len(content) < len(data) and data.startswith(content):
        return packed + gzip_member(data[len(content):]), True
    return None


def _current(previous: object, sha: str, old: dict[str, Path], rels: list[str]) -> bool:
    """Whether the archive on disk is the one `previous` (the record's) describes, of the
    transcript whose digest is `sha`."""
    if not isinstance(previous, dict) or previous.get("sha256") != sha or sorted(old) != rels:
        return False
    try:
        return sum(os.stat(path).st_size for path in old.values()) == previous.get("bytes")
    except OSError:
        return False


def _read_old(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def pack(before: bytes | None, data: bytes) -> bytes:
    """The gzip copy of `data`, given the current copy `before` (None: none): `before` itself
    when it holds `data` already; when `data` only grew (the backends append to their
    transcripts), `before` with the new tail as one more gzip member (gzip readers join the
    members), so a turn compresses only what it added; the whole, compressed at once, when
    there is no usable copy or `data` has doubled since it was last compressed whole."""
    if before:
        try:
            first = zlib.decompressobj(wbits=31)
            head = first.decompress(before)
            rest = _decompress(first.unused_data) if first.unused_data else b""
        except (OSError, EOFError, zlib.error):
            head, rest = b"", None
        if rest is not None:
            old = head + rest
            if old == data:
                return before
            if len(old) < len(data) < 2 * len(head) and data.startswith(old):
                return before + gzip_member(data[len(old):])
    return gzip_member(data)


def gzip_member(data: bytes) -> bytes:
    """`data` as one gzip member (level LEVEL, no name, mtime 0), made by zlib itself: the
    gzip module costs ~1 ms more to import, while a turn's backend runs."""
    packer = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def _decompress(data: bytes) -> bytes:
    """The joined members of gzip `data` (gzip.decompress; imported for a resumed session's
    archive only)."""
    import gzip

    return gzip.decompress(data)


def _private_dirs(base: Path, folder: Path) -> None:
    """Make `folder` and the folders from `base` (the archive's root) down to it, each 0700."""
    if folder.is_dir():
        return
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    current = base
    for part in folder.relative_to(base).parts:
        current = current / part
        try:
            os.mkdir(current, 0o700)
        except FileExistsError:
            if current.is_symlink() or not current.is_dir():
                raise ValueError(f"{current} is not a folder") from None


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def restore(app: App, record: dict[str, Any]) -> list[Path]:
    """When the backend's store has none of the session's files any more, put the archived
    ones back exactly where they were (never over an existing file); the files written ([]
    when the backend still has the session, even under other names, or there is no
    archive). A damaged archived file is skipped with one warning."""
    found = archived(app.settings.home, record["id"])
    session_id = record.get("backend_session_id")
    if not found or not session_id:
        return []
    from clinvk.transcripts.access import adapter_for

    adapter, environ = adapter_for(app, record["backend"])
    root = adapter.store_root(environ)
    missing = [(rel, gz) for rel, gz in found if not os.path.lexists(root / rel)]
    if not missing or adapter.session_files(session_id, record["working_dir"], environ):
        return []  # all there (one stat each), or the backend keeps the session elsewhere
    written = _write_back(app, record, root, missing)
    if written:
        app.env.info(f"restored {len(written)} file(s) of session {record['id'][:8]} "
                     f"from clinvk's archive: {', '.join(str(p) for p in written)}")
    return written


def _write_back(app: App, record: dict[str, Any], root: Path,
                missing: list[tuple[str, Path]]) -> list[Path]:
    from clinvk.backends._relocate import write_store_file

    written = []
    for rel, gz in missing:
        try:
            written.append(write_store_file(root, rel, read_gz(gz)))
        except (ArchiveDamaged, OSError, ValueError) as exc:
            app.env.warn(f"session {record['id'][:8]}: cannot restore {root / rel} from the "
                         f"archive: {getattr(exc, 'strerror', None) or exc}")
    return written
