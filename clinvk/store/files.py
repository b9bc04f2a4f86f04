"""Session files on disk: folder names per working directory, safe reads, atomic writes.

A file is read with O_NOFOLLOW and a regular-file check, and written as a temp file in
the same folder, fsynced, renamed over the old one, and the folder fsynced: a writer
killed at any moment leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path

from clinvk import atomic
from clinvk.atomic import discard as discard
from clinvk.atomic import fsync_dir as fsync_dir
from clinvk.errors import StoreError
from clinvk.ids import is_valid_id
from clinvk.store.migrations import NewerRecord
from clinvk.store.session import InvalidRecord, load
from clinvk.store.sync import BadFile

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

MAX_FILE_BYTES = 64 * 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class Vanished(BadFile):
    """The file disappeared between listing and reading it."""


def dirkey(working_dir: str) -> str:
    """Folder name for a working directory: readable slug + 16 hex of sha256(path)."""
    from clinvk.hashing import sha256

    raw = os.fsencode(working_dir)
    slug = _UNSAFE.sub("-", working_dir.encode("ascii", "replace").decode())[-40:]
    slug = slug.strip("-.") or "root"
    return f"{slug}-{sha256(raw).hexdigest()[:16]}"


def read_session_file(path: Path) -> tuple[dict[str, Any], os.stat_result]:
    """Read and validate one session file (never following symlinks); BadFile if unusable."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise BadFile("symbolic link")
    except FileNotFoundError:
        raise Vanished("file vanished") from None
    except OSError as exc:
        raise BadFile(f"cannot read: {exc.strerror}") from None
    name = path.name
    if not name.endswith(".json"):
        raise BadFile("not a .json file")
    if not is_valid_id(name[:-5]):
        raise BadFile("file name is not a session id")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Vanished("file vanished") from None
    except OSError as exc:
        reason = "symbolic link" if exc.errno == errno.ELOOP else f"cannot read: {exc.strerror}"
        raise BadFile(reason) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BadFile("not a regular file")
        if st.st_size > MAX_FILE_BYTES:
            raise BadFile("file too large")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    except OSError as exc:
        raise BadFile(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if not data.strip():
        raise BadFile("empty file")
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BadFile(f"invalid JSON ({str(exc)[:80]})") from None
    try:
        return load(obj, expected_id=name[:-5]), st
    except NewerRecord as exc:
        raise BadFile(str(exc)) from None
    except InvalidRecord as exc:
        raise BadFile(f"not a valid clinvk session ({exc})") from None


def mkdir_private(path: Path) -> bool:
    """Create a 0700 folder (whatever the umask); False if it existed already."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not path.is_dir() or path.is_symlink():
            raise StoreError(f"{path} exists and is not a folder") from None
        return False
    os.chmod(path, 0o700)
    return True


def stage(path: Path, record: dict[str, Any], sync: bool = True) -> tuple[Path, os.stat_result]:
    """Write the record as a fsynced temp file beside path, to be renamed over it later;
    returns (temp path, its stat). A temp name is `.<name>.<12 hex>.tmp` (see sweep_temps).
    `sync=False`: see atomic.stage."""
    data = (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return atomic.stage(path, data, sync)


def atomic_write(path: Path, record: dict[str, Any]) -> os.stat_result:
    """Write JSON to path via temp file + fsync + rename + folder fsync; returns its stat."""
    tmp, st = stage(path, record)
    atomic.commit(tmp, path)
    return st


def sweep_temps(root: Path) -> int:
    """Remove every temp file (`.*.tmp`) in root and the folders under it: called by a writer
    that holds the store lock after a previous holder died holding it, so none of them can
    belong to a live writer (temp files are made and renamed under the lock). Returns how many."""
    removed = 0
    try:
        folders = [root, *(e.path for e in os.scandir(root)
                           if not e.name.startswith(".") and e.is_dir(follow_symlinks=False))]
    except OSError:
        return 0
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                stale = [e.path for e in entries if e.name.startswith(".")
                         and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False)]
        except OSError:
            continue
        for path in stale:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
    return removed


def store_error(action: str, exc: OSError) -> StoreError:
    where = f" {exc.filename}" if exc.filename else ""
    return StoreError(f"cannot {action}{where}: {exc.strerror or exc}")
