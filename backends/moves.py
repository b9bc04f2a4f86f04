"""Where each backend keeps a session, for moving and forking it: the adapters' `relocate`
and `prepare_fork` (measured on claude 2.1.330, codex 0.169.0, gemini 0.61.0).

- claude: `projects/<cwd with non-alphanumerics -> '->/<id>.jsonl`; lines carry `cwd` and
  `sessionId`. A fork is claude's own `--resume ID --fork-session`.
- codex: `sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`; `session_meta` has `id` and
  `cwd`. codex finds a thread from anywhere by the id in the file name; a fork is a copy of
  the rollout under a new id, resumed with `exec resume NEWID`.
- gemini: `tmp/<slug>/chats/session-<time>-<id8>.jsonl` (header `sessionId`, `projectHash` =
  sha256 of the cwd). gemini picks the slug of a directory from `projects.json`, else from a
  `tmp/<slug>/.project_root` marker holding the directory, else claims `<basename>[-n]`. A
  fork is a copy of the chat file under a new id, resumed with `--resume NEWID`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from clinvk.backends._relocate import check_rel_path, rewrite_jsonl, write_store_file
from clinvk.backends.base import Relocation, StoreFile


def _rewrite(item: Relocation, content: bytes, extra: dict[str, str] | None = None) -> bytes:
    strings = {item.old_id: item.new_id, **(extra or {})}
    return rewrite_jsonl(content, strings, item.old_dir, item.new_dir)


def _only_file(item: Relocation, backend: str) -> StoreFile:
    if len(item.files) != 1:
        raise ValueError(f"a {backend} session is one store file, not {len(item.files)}")
    return item.files[0]


# --- claude ----------------------------------------------------------------------------


def claude_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    from clinvk.backends.claude import project_dir_name

    out = []
    for item in items:
        file = _only_file(item, "claude")
        parts = check_rel_path(file.path)
        if len(parts) != 3 or parts[0] != "projects" or parts[2] != f"{item.old_id}.jsonl":
            raise ValueError(f"{file.path!r} is not projects/<dir>/{item.old_id}.jsonl")
        path = f"projects/{project_dir_name(item.new_dir)}/{item.new_id}.jsonl"
        out.append([StoreFile(path, _rewrite(item, file.content))])
    return out


# --- codex -----------------------------------------------------------------------------


def uuid7() -> str:
    """A UUID version 7 (48-bit milliseconds, then random), the form of codex's thread ids."""
    value = (int(time.time() * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant
    return str(uuid.UUID(int=value))


_ROLLOUT = re.compile(r"rollout-(.+)-(.+)\.jsonl")


def codex_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    out = []
    for item in items:
        files = []
        for file in item.files:
            parts = check_rel_path(file.path)
            name = parts[-1]
            suffix = f"-{item.old_id}.jsonl"
            dated = len(parts) == 5 and all(p.isdigit() for p in parts[1:4])
            if parts[0] != "sessions" or not dated or not _ROLLOUT.fullmatch(name) \
                    or not name.endswith(suffix):
                raise ValueError(f"{file.path!r} is not sessions/YYYY/MM/DD/rollout-<time>"
                                 f"-{item.old_id}.jsonl")
            new_name = name[: -len(suffix)] + f"-{item.new_id}.jsonl"
            files.append(StoreFile("/".join([*parts[:-1], new_name]), _rewrite(item, file.content)))
        out.append(files)
    return out


def codex_prepare_fork(thread_id: str, environ: Mapping[str, str]) -> str:
    """Copy the thread's rollout under a new thread id (today's folder) and return that id."""
    from clinvk.backends.codex import codex_home, rollout_files

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


# --- gemini ----------------------------------------------------------------------------

MARKER = ".project_root"


def _slugify(text: str) -> str:
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")
    return slug or "project"


def _registry(base: Path) -> dict[str, str]:
    try:
        data = json.loads((base / "projects.json").read_text(encoding="utf-8"))
        projects = data.get("projects") if isinstance(data, dict) else None
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(projects, dict):
        return {}
    return {k: v for k, v in projects.items() if isinstance(k, str) and isinstance(v, str)}


def _marker(base: Path, slug: str) -> str | None:
    try:
        return (base / "tmp" / slug / MARKER).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None


class _Slugs:
    """Chooses the `tmp/<slug>` folder of a directory as gemini itself would."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.registry = _registry(base)
        self.claimed: dict[str, str] = {}  # directory -> slug chosen in this batch
        self.markers: dict[str, str] = {}
        try:
            for folder in (base / "tmp").iterdir():
                owner = _marker(base, folder.name)
                if owner is not None:
                    self.markers[folder.name] = owner
        except OSError:
            pass

    def slug(self, directory: str) -> str:
        directory = os.path.abspath(directory)
        if directory in self.claimed:
            return self.claimed[directory]
        slug = self.registry.get(directory)
        if not (slug and re.fullmatch(r"[a-z0-9-]+", slug)
                and self.markers.get(slug, directory) == directory):
            owned = [s for s, owner in sorted(self.markers.items()) if owner == directory]
            slug = owned[0] if owned else self._claim(directory)
        self.claimed[directory] = slug
        return slug

    def _claim(self, directory: str) -> str:
        base = _slugify(os.path.basename(directory) or "project")
        taken = set(self.registry.values()) | set(self.claimed.values())
        for n in range(10_000):
            candidate = base if n == 0 else f"{base}-{n}"
            if candidate in taken or self.markers.get(candidate, directory) != directory:
                continue
            return candidate
        raise ValueError(f"no free gemini project folder for {directory}")


def _project_hash(directory: str) -> str:
    return hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()


def gemini_relocate(items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
    from clinvk.backends.gemini import gemini_dir

    slugs = _Slugs(gemini_dir(environ))
    out = []
    for item in items:
        file = _only_file(item, "gemini")
        parts = check_rel_path(file.path)
        match = re.fullmatch(r"session-(.+)-([A-Za-z0-9_-]+)\.(jsonl|json)", parts[-1])
        if len(parts) != 4 or parts[0] != "tmp" or parts[2] != "chats" or not match \
                or match[2] != item.old_id[:8]:
            raise ValueError(f"{file.path!r} is not tmp/<project>/chats/session-<time>-"
                             f"{item.old_id[:8]}.jsonl")
        slug = slugs.slug(item.new_dir)
        name = f"session-{match[1]}-{item.new_id[:8]}.{match[3]}"
        hashes = {_project_hash(item.old_dir): _project_hash(item.new_dir)}
        content = _rewrite(item, file.content, hashes)
        if match[3] == "json":
            content = _rewrite_json(item, file.content, hashes)
        marker = StoreFile(f"tmp/{slug}/{MARKER}", os.path.abspath(item.new_dir).encode())
        out.append([StoreFile(f"tmp/{slug}/chats/{name}", content), marker])
    return out


def _rewrite_json(item: Relocation, content: bytes, extra: dict[str, str]) -> bytes:
    """An older whole-JSON chat file: rewritten as one line."""
    try:
        one_line = json.dumps(json.loads(content), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        raise ValueError("gemini chat file is not JSON") from None
    return _rewrite(item, one_line, extra)


def gemini_prepare_fork(session_id: str, working_dir: str, environ: Mapping[str, str]) -> str:
    """Copy the session's chat file under a new session id and return that id.

    Not `--session-file COPY`: gemini 0.61 then writes the fork as two files, one of them a
    stub without the conversation, and its session clean-up at the next start deletes every
    file of a session that has such a stub, so the fork is gone after one more run."""
    from clinvk.backends.gemini import chat_files, gemini_dir

    files = chat_files(session_id, working_dir, environ)
    if not files:
        raise ValueError(f"no gemini chat file of session {session_id} was found")
    root = gemini_dir(environ)
    rel = files[-1].relative_to(root).as_posix()
    new_id = str(uuid.uuid4())
    item = Relocation((StoreFile(rel, files[-1].read_bytes()),), session_id, new_id,
                      working_dir, working_dir)
    for file in gemini_relocate([item], environ)[0]:
        write_store_file(root, file.path, file.content)
    return new_id
