"""gemini's own store: `~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`.

Its paths, finding the chat file an interactive run created, and moving and forking a
session (measured on gemini 0.61.0); the file's content is read in gemini_transcript. The
header line of a chat file holds `sessionId` and `projectHash` (sha256 of the cwd).
gemini picks the `<project>` slug of a directory from `projects.json`, else from a
`tmp/<slug>/.project_root` marker holding the directory, else claims `<basename>[-n]`.
A fork is a copy of the chat file under a new id, resumed with `--resume NEWID`.

The moving code imports _relocate when it runs: a headless turn needs only the paths.
"""

from __future__ import annotations

import os

from clinvk.backends._files import fresh_files, glob_files
from clinvk.backends._jsonl import as_str, home_text, is_safe_id, read_first_json_line
from clinvk.backends.base import Relocation, Retention, StoreFile

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:  # nor json, re, hashlib or pathlib: see gemini_stubs.stubs_possible
    from collections.abc import Iterator, Mapping
    from pathlib import Path

# --- paths -------------------------------------------------------------------------------


def gemini_dir(environ: Mapping[str, str]) -> Path:
    """`~/.gemini`; gemini honours GEMINI_CLI_HOME in place of the home directory."""
    from pathlib import Path

    return Path(gemini_dir_text(environ))


def gemini_dir_text(environ: Mapping[str, str]) -> str:
    """gemini_dir as a string (no pathlib before a turn's backend is spawned)."""
    return os.path.join(environ.get("GEMINI_CLI_HOME") or home_text(environ), ".gemini")


RETENTION_DEFAULT = "30d"  # gemini's `general.sessionRetention.maxAge` (enabled by default)
_PERIOD_DAYS = {"h": 1 / 24, "d": 1, "w": 7, "m": 30}  # gemini's parseRetentionPeriod units


def gemini_retention(environ: Mapping[str, str]) -> Retention | None:
    """gemini's `general.sessionRetention` in its user settings (`~/.gemini/settings.json`):
    on unless `enabled: false`, chats older than `maxAge` ("<n>h|d|w|m", default 30d) are
    deleted; None when it is off or its maxAge is one gemini rejects (it then skips the
    age clean-up)."""
    import json
    import re

    path = gemini_dir(environ) / "settings.json"
    try:
        general = json.loads(path.read_text(encoding="utf-8")).get("general")
        conf = general.get("sessionRetention") if isinstance(general, dict) else None
    except (OSError, ValueError, AttributeError, RecursionError):
        conf = None
    conf = conf if isinstance(conf, dict) else {}
    if conf.get("enabled", True) is False:
        return None
    given = conf.get("maxAge")
    period = given if isinstance(given, str) else RETENTION_DEFAULT
    match = re.fullmatch(r"(\d+)([hdwm])", period)
    if not match or int(match[1]) == 0:
        return None
    where = (f"general.sessionRetention.maxAge: {period!r} in {path}" if isinstance(given, str)
             else f"general.sessionRetention (on by default, maxAge {RETENTION_DEFAULT}; "
                  f"not set in {path})")
    return Retention(int(match[1]) * _PERIOD_DAYS[match[2]], where)


def _registry(base: Path) -> dict[str, str]:
    """`projects.json`: directory -> the slug of its `tmp/<slug>` folder."""
    import json

    try:
        data = json.loads((base / "projects.json").read_text(encoding="utf-8"))
        projects = data.get("projects") if isinstance(data, dict) else None
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(projects, dict):
        return {}
    return {k: v for k, v in projects.items() if isinstance(k, str) and isinstance(v, str)}


def _project_hash(directory: str) -> str:
    """sha256 of the absolute path: `projectHash`, and the legacy `tmp/<hash>` folder name."""
    import hashlib

    return hashlib.sha256(os.path.abspath(directory).encode()).hexdigest()


def own_project_folders(base: Path, working_dir: str) -> list[Path]:
    """The `tmp/<project>` folders of a working dir: the slug from `projects.json`, then the
    legacy sha256 hash of the path."""
    tmp = base / "tmp"
    slug = _registry(base).get(os.path.abspath(working_dir))
    own = [tmp / slug] if slug and is_safe_id(slug) else []
    return [*own, tmp / _project_hash(working_dir)]


def _project_folders(base: Path, working_dir: str) -> Iterator[Path]:
    """Candidate `tmp/<project>` folders for a working dir: its own, then every other one
    (listed only when asked for: a search looks up thousands of sessions)."""
    preferred = own_project_folders(base, working_dir)
    yield from preferred
    try:
        others = sorted(p for p in (base / "tmp").iterdir() if p.is_dir() and p not in preferred)
    except OSError:
        others = []
    yield from others


def chat_files(session_id: str, working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    """`~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl` whose first line names the
    session; files of the working dir's own project folder first."""
    if not is_safe_id(session_id) or len(session_id) < 8:
        return []
    found: list[Path] = []
    for folder in _project_folders(gemini_dir(environ), working_dir):
        try:
            candidates = sorted((folder / "chats").glob(f"session-*-{session_id[:8]}.jsonl"))
        except OSError:
            continue
        for path in candidates:
            if path.is_file() and read_first_json_line(path).get("sessionId") == session_id:
                found.append(path)
        if found:
            break
    return found


def native_chat_files(environ: Mapping[str, str]) -> list[Path]:
    """Every chat file of gemini's store: `tmp/<project>/chats/session-*.jsonl` (and the
    older whole-JSON `session-*.json`)."""
    from pathlib import Path

    out: list[Path] = []
    try:
        with os.scandir(gemini_dir(environ) / "tmp") as projects:
            folders = [e.path for e in projects if e.is_dir()]
    except OSError:
        return []
    for folder in folders:
        try:
            with os.scandir(os.path.join(folder, "chats")) as entries:
                out += [Path(e.path) for e in entries if e.name.startswith("session-")
                        and e.name.endswith((".jsonl", ".json")) and e.is_file()]
        except OSError:
            continue
    return out


def chat_working_dir(path: Path, environ: Mapping[str, str]) -> str | None:
    """The directory a chat file's `tmp/<project>` folder belongs to: from `projects.json`,
    else the folder's `.project_root` marker; None when neither says."""
    base = gemini_dir(environ)
    slug = path.parent.parent.name
    for directory, owner in _registry(base).items():
        if owner == slug and os.path.isabs(directory):
            return directory
    marker = _marker(base, slug)
    return marker if marker and os.path.isabs(marker) else None


# --- finding the chat file an interactive run created -----------------------------------


def list_chat_files(environ: Mapping[str, str]) -> set[Path]:
    return glob_files(gemini_dir(environ) / "tmp", "*/chats/session-*.json*")


def project_hashes(working_dir: str) -> set[str]:
    paths = {os.path.abspath(working_dir)}
    try:
        paths.add(os.path.realpath(working_dir))
    except OSError:
        pass
    return {_project_hash(p) for p in paths}


def find_new_chat(working_dir: str, started_at: float, environ: Mapping[str, str],
                  before: set[Path]) -> str | None:
    """The session id of the newest chat file created since `before` whose `projectHash`
    is the working dir's (a main chat, not a subagent's)."""
    hashes = project_hashes(working_dir)
    for path in fresh_files(list_chat_files(environ), before, started_at):
        head = read_first_json_line(path)
        if head.get("projectHash") in hashes and head.get("kind", "main") == "main":
            session_id = as_str(head.get("sessionId"))
            if session_id:
                return session_id
    return None


# --- moving and forking a session ----------------------------------------------------------

MARKER = ".project_root"


def _slugify(text: str) -> str:
    import re

    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")
    return slug or "project"


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
        import re

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


def gemini_relocate(items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
    """The adapter's `relocate`: the chat file under the new id in the new dir's project
    folder, with that folder's `.project_root` marker."""
    import re

    from clinvk.backends._relocate import check_rel_path, only_file, rewrite_item

    slugs = _Slugs(gemini_dir(environ))
    out = []
    for item in items:
        file = only_file(item, "gemini")
        parts = check_rel_path(file.path)
        match = re.fullmatch(r"session-(.+)-([A-Za-z0-9_-]+)\.(jsonl|json)", parts[-1])
        if len(parts) != 4 or parts[0] != "tmp" or parts[2] != "chats" or not match \
                or match[2] != item.old_id[:8]:
            raise ValueError(f"{file.path!r} is not tmp/<project>/chats/session-<time>-"
                             f"{item.old_id[:8]}.jsonl")
        slug = slugs.slug(item.new_dir)
        name = f"session-{match[1]}-{item.new_id[:8]}.{match[3]}"
        hashes = {_project_hash(item.old_dir): _project_hash(item.new_dir)}
        content = rewrite_item(item, file.content, hashes)
        if match[3] == "json":
            content = _rewrite_json(item, file.content, hashes)
        marker = StoreFile(f"tmp/{slug}/{MARKER}", os.path.abspath(item.new_dir).encode())
        out.append([StoreFile(f"tmp/{slug}/chats/{name}", content), marker])
    return out


def _rewrite_json(item: Relocation, content: bytes, extra: dict[str, str]) -> bytes:
    """An older whole-JSON chat file: rewritten as one line."""
    import json

    from clinvk.backends._relocate import rewrite_item

    try:
        one_line = json.dumps(json.loads(content), ensure_ascii=False).encode()
    except (ValueError, RecursionError):
        raise ValueError("gemini chat file is not JSON") from None
    return rewrite_item(item, one_line, extra)


def gemini_prepare_fork(session_id: str, working_dir: str, environ: Mapping[str, str]) -> str:
    """Copy the session's chat file under a new session id and return that id.

    Not `--session-file COPY`: gemini 0.61 then writes the fork as two files, one of them a
    stub without the conversation, and its session clean-up at the next start deletes every
    file of a session that has such a stub, so the fork is gone after one more run."""
    import uuid

    from clinvk.backends._relocate import write_store_file

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
