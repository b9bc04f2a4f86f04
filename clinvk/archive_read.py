"""Reading the transcript archive (the write side is clinvk.archive): the gzip copies of one
session's backend store files under `$CLINVK_HOME/archive/<session id>/<relative path>.gz`,
their contents, and private plain copies for the readers that want files (show
--transcript, search --transcripts, a hand-over) while the backend's own files are gone.

A plain copy lies in a private temporary folder of this process (0700, removed at exit),
under the same relative path as in the backend's store; `source_of` names the .gz it came
from, so that a cache keyed on files (transcripts.cache) sees the archived copy, not the
temporary one. No Click here."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from clinvk.paths import archive_dir

SUFFIX = ".gz"
_extracted: dict[Path, Path] = {}  # plain copy -> the .gz it was read from
_scratch: list[Path] = []  # this process's private folder, once made


class ArchiveDamaged(ValueError):
    """An archived file cannot be read back (not gzip, truncated, unreadable)."""


def session_folder(home: Path, session_id: str) -> Path:
    return archive_dir(Path(home)) / session_id


def archived(home: Path, session_id: str) -> list[tuple[str, Path]]:
    """(relative path in the backend's store, its .gz) of every archived file of a session,
    sorted; [] when the session has no archive."""
    folder = session_folder(home, session_id)
    found = []
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            if name.endswith(SUFFIX) and not name.startswith("."):
                path = Path(base) / name
                rel = path.relative_to(folder).as_posix()[: -len(SUFFIX)]
                found.append((rel, path))
    return sorted(found)


def relative_under(path: Path, root: Path) -> str | None:
    """`path` relative to `root` (a backend's store root), as written (else with both
    resolved: a symlinked home); None when it lies outside."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        try:
            return path.resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError):
            return None


def read_gz(path: Path) -> bytes:
    """The original bytes of one archived file; ArchiveDamaged when it cannot be read."""
    import gzip  # not for a resume whose backend still has its files (TurnPlan._restore)
    import zlib

    try:
        with open(path, "rb") as fh:
            return gzip.decompress(fh.read())
    except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveDamaged(f"the archived copy {path} cannot be read: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None


def contents(home: Path, session_id: str) -> list[tuple[str, bytes]]:
    """(relative path, original bytes) of every archived file of a session."""
    return [(rel, read_gz(path)) for rel, path in archived(home, session_id)]


def _scratch_dir() -> Path:
    if not _scratch:
        import atexit
        import shutil
        import tempfile

        folder = Path(tempfile.mkdtemp(prefix="clinvk-archive-"))
        atexit.register(shutil.rmtree, folder, True)
        _scratch.append(folder)
    return _scratch[0]


def plain_copies(home: Path, session_id: str) -> list[Path]:
    """Plain copies of a session's archived files in this process's private folder (made
    once per process); [] when there is no archive. ArchiveDamaged when a copy is damaged."""
    from clinvk.atomic import write_atomic

    found = archived(home, session_id)
    out = []
    for rel, gz in found:
        target = _scratch_dir() / session_id / rel
        if target not in _extracted:
            data = read_gz(gz)
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            write_atomic(target, data)
            _extracted[target] = gz
        out.append(target)
    return out


def source_of(path: Path) -> Path:
    """The archived .gz a plain copy came from; the path itself for any other file."""
    return _extracted.get(Path(path), path)


def remove(home: Path, session_ids: Iterable[str]) -> None:
    """Delete the archives of these sessions (the store's on_delete hook; errors ignored)."""
    import shutil

    for sid in session_ids:
        if sid and "/" not in sid and sid not in (".", ".."):
            shutil.rmtree(session_folder(Path(home), sid), ignore_errors=True)
