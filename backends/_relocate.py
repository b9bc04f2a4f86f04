"""Moving a session's files inside a backend's own store: checking relative paths, rewriting
ids and directories in JSONL lines, and writing files without ever following a symlink.

Shared by the stores' `relocate` / `prepare_fork` code (`<backend>_store.py`) and by
clinvk's import. Nothing here knows clinvk's own store, Click or any one backend.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from clinvk.backends.base import Relocation, StoreFile

from clinvk.atomic import write_atomic

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

MAX_REL_PATH = 1024  # characters of a relative store path
MAX_DEPTH = 200  # nesting of JSON values rewritten; deeper lines are kept as they are


def check_rel_path(path: object) -> list[str]:
    """The components of a safe relative store path; ValueError when it is absolute, holds
    `..`, `.`, empty components, backslashes or NULs, or is too long."""
    if not isinstance(path, str) or not path:
        raise ValueError("path must be a non-empty string")
    if len(path) > MAX_REL_PATH:
        raise ValueError(f"path is longer than {MAX_REL_PATH} characters")
    if "\0" in path or "\\" in path:
        raise ValueError(f"path {path[:80]!r} holds a NUL or a backslash")
    if path.startswith("/"):
        raise ValueError(f"path {path[:80]!r} is absolute")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"path {path[:80]!r} has an empty, '.' or '..' component")
    return parts


# --- rewriting ----------------------------------------------------------------------


class _Rewriter:
    def __init__(self, strings: dict[str, str], old_dir: str, new_dir: str) -> None:
        self.strings = strings
        self.old_dir = old_dir.rstrip("/") or "/"
        self.new_dir = new_dir.rstrip("/") or "/"

    def string(self, value: str) -> str:
        if value in self.strings:
            return self.strings[value]
        old = self.old_dir
        if old == self.new_dir or old == "/":
            return value
        if value == old:
            return self.new_dir
        if value.startswith(old + "/"):
            return self.new_dir.rstrip("/") + value[len(old):]
        return value

    def value(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise RecursionError("too deep")
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, dict):
            return {k: self.value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, depth + 1) for v in value]
        return value


def rewrite_jsonl(content: bytes, strings: dict[str, str], old_dir: str, new_dir: str) -> bytes:
    """JSONL content with every string value equal to a key of `strings` replaced, and every
    string value that is `old_dir` or a path below it moved to `new_dir`. Lines that are not
    JSON are kept as they are."""
    strings = {k: v for k, v in strings.items() if k != v}
    if not strings and old_dir.rstrip("/") == new_dir.rstrip("/"):
        return content
    rewriter = _Rewriter(strings, old_dir, new_dir)
    out: list[bytes] = []
    for raw in content.split(b"\n"):
        if not raw.strip():
            out.append(raw)
            continue
        try:
            new = rewriter.value(json.loads(raw))
        except (ValueError, RecursionError):
            out.append(raw)
            continue
        out.append(json.dumps(new, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return b"\n".join(out)


def rewrite_item(item: Relocation, content: bytes, extra: dict[str, str] | None = None) -> bytes:
    """`content` of one of the item's files with its id (and the `extra` strings) replaced
    and its directory moved (see `rewrite_jsonl`)."""
    strings = {item.old_id: item.new_id, **(extra or {})}
    return rewrite_jsonl(content, strings, item.old_dir, item.new_dir)


def only_file(item: Relocation, backend: str) -> StoreFile:
    """The one store file of a backend that keeps a session in one file; ValueError else."""
    if len(item.files) != 1:
        raise ValueError(f"a {backend} session is one store file, not {len(item.files)}")
    return item.files[0]


# --- checking and writing ---------------------------------------------------------------


def target_problem(root: Path, rel: str) -> str | None:
    """Why `rel` cannot be written safely under `root` (a symlink or a non-folder on the way,
    a symlink or non-regular file at the target), else None."""
    parts = check_rel_path(rel)
    current = root
    for n, part in enumerate(parts):
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return f"cannot inspect {current}: {exc.strerror}"
        if stat.S_ISLNK(st.st_mode):
            return f"{current} is a symbolic link"
        last = n == len(parts) - 1
        if not last and not stat.S_ISDIR(st.st_mode):
            return f"{current} is not a folder"
        if last and not stat.S_ISREG(st.st_mode):
            return f"{current} exists and is not a regular file"
    return None


def read_existing(root: Path, rel: str) -> bytes | None:
    """The content of the regular file `rel` under `root`, None when there is none."""
    path = root.joinpath(*check_rel_path(rel))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read()


def write_store_file(root: Path, rel: str, content: bytes) -> Path:
    """Write `content` to `rel` under `root` atomically (clinvk.atomic), creating
    folders (0700) as needed; never follows a symlink. ValueError when unsafe."""
    problem = target_problem(root, rel)
    if problem:
        raise ValueError(problem)
    parts = check_rel_path(rel)
    root.mkdir(parents=True, exist_ok=True)
    folder = root
    for part in parts[:-1]:
        folder = folder / part
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            if os.path.islink(folder) or not folder.is_dir():
                raise ValueError(f"{folder} is not a folder") from None
    target = folder / parts[-1]
    write_atomic(target, content)
    return target
