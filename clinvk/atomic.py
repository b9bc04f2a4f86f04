"""Atomic file writes: a temp file beside the target (`.<name>.<12 hex>.tmp`, 0600, never
through a symlink), fsynced, renamed over the target, and the folder fsynced, so that a
writer killed at any moment leaves either the old file or the new one, never half of one.

The one low-level writer of clinvk's own store (session_files) and of the backends' stores
(backends/_relocate): it knows neither.
"""

from __future__ import annotations

import os
from pathlib import Path


def stage(path: Path, data: bytes, sync: bool = True) -> tuple[Path, os.stat_result]:
    """Write `data` as a fsynced temp file beside `path`, to be renamed over it later (see
    `commit`); returns (temp path, its stat). `sync=False`: the caller makes many and
    flushes them all at once (os.sync) before renaming any."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if sync:
            os.fsync(fd)
        st = os.fstat(fd)
    except BaseException:
        os.close(fd)
        discard(tmp)
        raise
    os.close(fd)
    return tmp, st


def commit(tmp: Path, path: Path) -> None:
    """Rename the staged `tmp` over `path` and fsync the folder; the temp file is removed
    when the rename fails."""
    try:
        os.replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes) -> os.stat_result:
    """Write `data` to `path` atomically (stage + commit); returns the new file's stat."""
    tmp, st = stage(path, data)
    commit(tmp, path)
    return st


def discard(path: Path) -> None:
    """Remove a file if it is there (a temp file given up)."""
    try:
        os.unlink(path)
    except OSError:
        pass


def fsync_dir(folder: Path) -> None:
    dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
