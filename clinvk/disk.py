"""The bytes each session takes on disk: its record (the session JSON file), its archive
(`record["archive"]["bytes"]`, 0 while it has none) and the backend's own store files of
that session (as transcripts.access finds them; a file that is gone counts 0, and a file
several sessions share, as gemini's can be, is counted in each of them). No Click here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.errors import ClinvkError

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.store.selection import SessionFilter

KEYS = ("record_bytes", "archive_bytes", "backend_bytes", "total_bytes")


@dataclass(frozen=True)
class SessionDisk:
    """One session's bytes; `archived` says whether its record names an archive at all."""

    id: str
    backend: str
    title: str | None
    record_bytes: int
    archive_bytes: int
    backend_bytes: int
    archived: bool = False

    @property
    def total_bytes(self) -> int:
        return self.record_bytes + self.archive_bytes + self.backend_bytes

    def figures(self) -> dict[str, int]:
        """The four byte counts under KEYS."""
        return {key: getattr(self, key) for key in KEYS}

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.figures()}


def file_bytes(path: str | os.PathLike[str]) -> int:
    """The size of a file; 0 when it is gone or cannot be stat'ed."""
    try:
        return os.stat(path).st_size
    except (OSError, ValueError):
        return 0


def archive_bytes(record: dict[str, Any]) -> int | None:
    """The size the record gives its archive; None when it has none (not built yet)."""
    archive = record.get("archive")
    if not isinstance(archive, dict) or not isinstance(archive.get("bytes"), int):
        return None
    return archive["bytes"]


def backend_files(app: App, record: dict[str, Any]) -> list[Path]:
    """The backend's own store files of a session that exist now ([] when none is found,
    the session has no backend session id or its backend is not configured)."""
    from clinvk.transcripts.access import transcript_files

    if not record.get("backend_session_id"):
        return []
    try:
        _adapter, files = transcript_files(app, record, archived=False)
    except (ClinvkError, OSError):
        return []
    return list(dict.fromkeys(files))  # a path named twice counts once


def session_disk(app: App, record: dict[str, Any], record_path: str | os.PathLike[str]) -> SessionDisk:
    """The bytes of one session whose file is record_path."""
    archived = archive_bytes(record)
    return SessionDisk(
        id=record["id"], backend=record["backend"], title=record.get("title"),
        record_bytes=file_bytes(record_path), archive_bytes=archived or 0,
        backend_bytes=sum(file_bytes(p) for p in backend_files(app, record)),
        archived=archived is not None)


def _record_paths(app: App, selection: SessionFilter | None) -> dict[str, Path]:
    """id -> the session file of every session matching selection (from the index)."""
    store = app.store
    rows = store.query("SELECT id, dirkey, name FROM sessions {where}", selection)
    return {sid: store.root / dirkey / name for sid, dirkey, name in rows}


def disk_usage(app: App, selection: SessionFilter | None = None) -> dict[str, Any]:
    """{"sessions": [SessionDisk...] largest first, "total": {KEYS: sums}} over the
    sessions matching selection."""
    records = app.store.list(selection)
    paths = _record_paths(app, selection)
    return _summed([session_disk(app, r, paths.get(r["id"]) or app.store.path_of(r["id"]))
                    for r in records])


def session_usage(app: App, session_id: str) -> dict[str, Any]:
    """disk_usage's result for the one session of this id or unique prefix."""
    record = app.store.get(session_id)
    return _summed([session_disk(app, record, app.store.path_of(record["id"]))])


def _summed(found: list[SessionDisk]) -> dict[str, Any]:
    found.sort(key=lambda d: (-d.total_bytes, d.id))
    total = {key: sum(getattr(d, key) for d in found) for key in KEYS}
    return {"sessions": found, "total": total}


def disk_json(usage: dict[str, Any]) -> dict[str, Any]:
    """disk_usage's result as JSON: each session as {"id", KEYS...}."""
    return {"sessions": [d.as_json() for d in usage["sessions"]], "total": usage["total"]}
