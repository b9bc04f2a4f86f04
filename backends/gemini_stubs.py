"""Guard gemini sessions against gemini 0.61's own session clean-up.

Each `gemini --resume ID` first starts a fresh recording, `chats/session-<minute>-<id8>.jsonl`
holding only metadata and the session context, then switches to the session's real file. When
the minute differs from the one in the real file's name, that stub stays behind as a second
file of the session. At its next start in the same project, gemini's clean-up (enabled by
default) takes the stub for a broken session and deletes every file whose name ends in that
short id — the real conversation included. So after one resume in a later minute, the next
`gemini` run of any other session of the project loses the resumed one (seen on the real CLI;
`tests/test_e2e_backends.py::test_gemini_resume_survives_its_own_cleanup`).

`remove_stubs` deletes such stubs: files of a session whose other file holds the conversation.
A file with any conversation in it, or the only file of its session, is never touched."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:  # nor json, re or pathlib, unless there is something to tidy
    from pathlib import Path
    from typing import Any

_NAME = r"session-.+-([0-9A-Za-z_-]{8})\.jsonl"  # a chat file, and its session's short id
_ID_CHARS = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-")
_IGNORED_USER_PREFIXES = ("/", "?", "<session_context>", "<hook_context>")
_MAX_STUB_BYTES = 1 << 20  # a stub holds metadata and the session context: far less than this


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(part) for part in content)
    if isinstance(content, dict):
        return content.get("text") if isinstance(content.get("text"), str) else ""
    return ""


def _is_conversation(message: Any) -> bool:
    """gemini's own test of a message worth resuming (`isResumableMessageRecord`)."""
    if not isinstance(message, dict):
        return False
    text = _text(message.get("content")).strip()
    if message.get("type") == "user":
        return bool(text) and not text.startswith(_IGNORED_USER_PREFIXES)
    if message.get("type") == "gemini":
        return bool(text or message.get("toolCalls") or message.get("thoughts"))
    return False


def _records(line: bytes) -> list[Any]:
    """The messages a line of a chat file carries (a message, or `$set.messages`)."""
    import json

    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return []
    if not isinstance(record, dict):
        return []
    update = record.get("$set")
    if isinstance(update, dict) and isinstance(update.get("messages"), list):
        return update["messages"]
    return [record]


def _examine(path: Path) -> tuple[str | None, bool]:
    """(session id of the first line, whether the file holds any conversation)."""
    import json

    session_id = None
    big = path.stat().st_size > _MAX_STUB_BYTES  # surely a conversation: read its id only
    with path.open("rb") as handle:
        for n, line in enumerate(handle):
            if n == 0:
                try:
                    first = json.loads(line)
                except (ValueError, RecursionError):
                    return None, True  # not a chat file we understand: leave it alone
                if not isinstance(first, dict) or not isinstance(first.get("sessionId"), str):
                    return None, True
                session_id = first["sessionId"]
                if big:
                    return session_id, True
            if any(_is_conversation(m) for m in _records(line)):
                return session_id, True
    return session_id, False


def stubs_possible(gemini_dir: str) -> bool:
    """Whether a `tmp/<project>/chats` folder of gemini's store holds two chat files of one
    session (by the short id in their names): only then can `remove_stubs` find a stub. Told
    from file names alone, without json, re or pathlib: what a turn pays before gemini's
    start when there is nothing to tidy (issue 9 §8)."""
    try:
        with os.scandir(os.path.join(gemini_dir, "tmp")) as entries:
            projects = [e.path for e in entries if e.is_dir()]  # a linked project folder too
    except FileNotFoundError:
        return False
    except OSError:  # cannot tell: the full check decides
        return True
    for project in projects:
        seen: set[str] = set()
        try:
            with os.scandir(os.path.join(project, "chats")) as entries:
                for entry in entries:
                    short = short_id(entry.name)
                    if short is None:
                        continue
                    if short in seen:
                        return True
                    seen.add(short)
        except OSError:
            continue
    return False


def short_id(name: str) -> str | None:
    """The session's short id in a chat file's name, as `_NAME` finds it (None: not one)."""
    if len(name) < 24 or not name.startswith("session-") or not name.endswith(".jsonl"):
        return None
    short = name[-14:-6]
    return short if name[-15] == "-" and set(short) <= _ID_CHARS else None


def remove_stubs(chats: Path) -> list[Path]:
    """Delete the resume stubs in one `chats` folder; returns what was deleted."""
    import re

    groups: dict[str, list[Path]] = {}
    try:
        for path in chats.iterdir():
            match = re.fullmatch(_NAME, path.name)
            if match and path.is_file() and not path.is_symlink():
                groups.setdefault(match[1], []).append(path)
    except OSError:
        return []
    removed: list[Path] = []
    for paths in groups.values():
        if len(paths) > 1:
            removed.extend(_remove_group_stubs(paths))
    return removed


def _remove_group_stubs(paths: list[Path]) -> list[Path]:
    kept: dict[str, bool] = {}
    stubs: list[tuple[Path, str]] = []
    for path in paths:
        try:
            session_id, talked = _examine(path)
        except OSError:
            continue
        if session_id is None:
            continue
        if talked:
            kept[session_id] = True
        else:
            stubs.append((path, session_id))
    removed = []
    for path, session_id in stubs:
        if kept.get(session_id):
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed
