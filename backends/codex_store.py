"""codex's own store: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`.

Its paths, the usage shape of its rollouts (and of `codex exec --json`), the thread's
running total, finding the rollout an interactive run created, and moving and forking a
thread (measured on codex 0.169.0); a rollout's lines are read in codex_transcript. codex
finds a thread from anywhere by the id in the file name; a fork is a copy of the rollout
under a new id, resumed with `exec resume NEWID`.

The moving code imports _relocate when it runs: a headless turn needs only the paths.
"""

from __future__ import annotations

import os
import time

from clinvk.backends._files import fresh_files, glob_files
from clinvk.backends._jsonl import (
    as_dict,
    as_int,
    as_str,
    clean_line,
    decode_line,
    home_dir,
    is_safe_id,
    read_first_json_line,
)
from clinvk.backends.base import Relocation, StoreFile, Usage

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

if TYPE_CHECKING:  # pathlib is not imported before a turn's backend is spawned
    from pathlib import Path


def usage_from_codex(usage: Any) -> Usage:
    """Normalise a codex usage object (`turn.completed.usage` or a rollout's
    `total_token_usage`): input already includes cached, output already includes reasoning."""
    usage = as_dict(usage)
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        cached_input_tokens=as_int(usage.get("cached_input_tokens")),
        cache_creation_input_tokens=as_int(usage.get("cache_write_input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        reasoning_tokens=as_int(usage.get("reasoning_output_tokens")),
    )


# --- paths and running totals -----------------------------------------------------------


def codex_home(environ: Mapping[str, str]) -> Path:
    configured = environ.get("CODEX_HOME")
    from pathlib import Path

    return Path(configured) if configured else home_dir(environ) / ".codex"


def rollout_files(thread_id: str, environ: Mapping[str, str]) -> list[Path]:
    """`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`, oldest first."""
    from pathlib import Path

    if not is_safe_id(thread_id):
        return []
    tail = f"-{thread_id}.jsonl"
    home = codex_home(environ)
    found = []
    for day in _day_folders(os.path.join(home, "sessions")):
        found += [Path(day, name) for name in _names(day)
                  if name.endswith(tail) and name.startswith("rollout-")
                  and len(name) >= len("rollout-") + len(tail)
                  and os.path.isfile(os.path.join(day, name))]
    if not found:  # a thread the user archived (`codex` moves it to archived_sessions/)
        found = [p for p in _archived_rollouts(home) if p.name.endswith(tail)]
    return sorted(found, key=lambda p: p.name)


def _archived_rollouts(home: Path) -> list[Path]:
    """The rollouts under `archived_sessions/`, flat or in dated folders."""
    out: list[Path] = []
    for depth in (0, 3):
        folders = [str(home / "archived_sessions")]
        for _ in range(depth):
            folders = [sub for folder in folders for sub in _dirs(folder)]
        for folder in folders:
            out += _rollouts_in(folder)
    return out


# folder -> (its mtime_ns, the names in it): a search looks up thousands of threads, and
# listing every day folder for each was most of its time. A folder is listed again when its
# mtime changed or is too recent to prove that nothing was added since (RACY_NS).
_LISTED: dict[str, tuple[int, list[str]]] = {}
RACY_NS = 2_000_000_000


def _names(folder: str) -> list[str]:
    """The names in a folder but hidden ones (a glob's `*`); [] when it is no folder."""
    try:
        mtime = os.stat(folder).st_mtime_ns
        known = _LISTED.get(folder)
        if known is not None and known[0] == mtime and time.time_ns() - mtime > RACY_NS:
            return known[1]
        names = [name for name in os.listdir(folder) if not name.startswith(".")]
    except OSError:
        return []
    _LISTED[folder] = (mtime, names)
    return names


def _day_folders(sessions: str) -> list[str]:
    """The `YYYY/MM/DD` folders (any names three levels down) under sessions."""
    days = []
    for year in _names(sessions):
        for month in _names(os.path.join(sessions, year)):
            folder = os.path.join(sessions, year, month)
            days += [os.path.join(folder, day) for day in _names(folder)]
    return days


def last_total_usage(rollout: Path) -> Usage | None:
    """The thread's running total in a rollout file: the last `event_msg` `token_count`'s
    `info.total_token_usage`, or None when there is none."""
    found: Usage | None = None
    try:
        with rollout.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"token_count"' not in line:
                    continue
                record = as_dict(decode_line(clean_line(line)))
                payload = as_dict(record.get("payload"))
                if record.get("type") != "event_msg" or payload.get("type") != "token_count":
                    continue
                total = as_dict(payload.get("info")).get("total_token_usage")
                if isinstance(total, dict):
                    found = usage_from_codex(total)
    except OSError:
        return None
    return found


def running_total(thread_id: str, environ: Mapping[str, str]) -> Usage | None:
    """The thread's running total as its last rollout with one records it, else None."""
    for rollout in reversed(rollout_files(thread_id, environ)):
        usage = last_total_usage(rollout)
        if usage is not None:
            return usage
    return None


def native_rollouts(environ: Mapping[str, str]) -> list[Path]:
    """Every rollout of codex's store: `sessions/YYYY/MM/DD/rollout-*.jsonl`, and those the
    user archived (`archived_sessions/`, flat or dated)."""
    home = codex_home(environ)
    folders = [str(home / "sessions")]
    for _ in range(3):
        folders = [sub for folder in folders for sub in _dirs(folder)]
    out = [path for folder in folders for path in _rollouts_in(folder)]
    return out + _archived_rollouts(home)


def _dirs(folder: str) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [e.path for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _rollouts_in(folder: str) -> list[Path]:
    from pathlib import Path

    try:
        with os.scandir(folder) as entries:
            return [Path(e.path) for e in entries
                    if e.name.startswith("rollout-") and e.name.endswith(".jsonl") and e.is_file()]
    except OSError:
        return []


def is_subagent_rollout(path: Path) -> bool:
    """A rollout of a thread codex started for one of its own agents (its `session_meta`
    says so): part of its parent's conversation, not one of the user's."""
    payload = as_dict(read_first_json_line(path).get("payload"))
    source = payload.get("source")
    return (isinstance(source, dict) and "subagent" in source) or \
        payload.get("thread_source") == "subagent"


# --- finding the rollout an interactive run created -------------------------------------


def list_rollouts(environ: Mapping[str, str]) -> set[Path]:
    return glob_files(codex_home(environ) / "sessions", "*/*/*/rollout-*.jsonl")


def _same_dir(a: str | None, b: str) -> bool:
    if not a:
        return False
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def find_new_rollout(working_dir: str, started_at: float, environ: Mapping[str, str],
                     before: set[Path]) -> str | None:
    """The thread id of the newest rollout created since `before` whose `session_meta.cwd`
    is `working_dir`."""
    for path in fresh_files(list_rollouts(environ), before, started_at):
        first = read_first_json_line(path)
        payload = as_dict(first.get("payload"))
        if first.get("type") == "session_meta" and _same_dir(as_str(payload.get("cwd")), working_dir):
            thread_id = as_str(payload.get("id"))
            if thread_id:
                return thread_id
    return None


# --- moving and forking a thread ------------------------------------------------------------


def uuid7() -> str:
    """A UUID version 7 (48-bit milliseconds, then random), the form of codex's thread ids."""
    import secrets
    import time
    import uuid

    value = (int(time.time() * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant
    return str(uuid.UUID(int=value))


_ROLLOUT = r"rollout-(.+)-(.+)\.jsonl"  # compiled on first use (re is not imported before a spawn)


def codex_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    """The adapter's `relocate`: each rollout renamed for the new thread id, in its folder."""
    import re

    from clinvk.backends._relocate import check_rel_path, rewrite_item

    out = []
    for item in items:
        files = []
        for file in item.files:
            parts = check_rel_path(file.path)
            name = parts[-1]
            suffix = f"-{item.old_id}.jsonl"
            dated = len(parts) == 5 and all(p.isdigit() for p in parts[1:4])
            if parts[0] != "sessions" or not dated or not re.fullmatch(_ROLLOUT, name) \
                    or not name.endswith(suffix):
                raise ValueError(f"{file.path!r} is not sessions/YYYY/MM/DD/rollout-<time>"
                                 f"-{item.old_id}.jsonl")
            new_name = name[: -len(suffix)] + f"-{item.new_id}.jsonl"
            files.append(StoreFile("/".join([*parts[:-1], new_name]), rewrite_item(item, file.content)))
        out.append(files)
    return out


def codex_prepare_fork(thread_id: str, environ: Mapping[str, str]) -> str:
    """Copy the thread's rollout under a new thread id (today's folder) and return that id."""
    from datetime import datetime, timezone

    from clinvk.backends._relocate import write_store_file

    files = rollout_files(thread_id, environ)
    if not files:
        raise ValueError(f"no codex rollout of thread {thread_id} was found")
    source = files[-1]
    new_id = uuid7()
    now = datetime.now(timezone.utc)
    name = f"rollout-{now.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"
    rel = f"sessions/{now:%Y/%m/%d}/{name}"
    item = Relocation((StoreFile(rel, source.read_bytes()),), thread_id, new_id, "/", "/")
    [[copy]] = codex_relocate([item])
    write_store_file(codex_home(environ), copy.path, copy.content)
    return new_id
