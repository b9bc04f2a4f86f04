"""`sessions export`: bundles of session records with the backends' own transcript files (the
format is in bundle_format.py; bundle_import.py reads them back), and the readable markdown
form. Click-free; `clinvk.api` exposes the same functions."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.bundle_format import FORMAT, REDACTED, VERSION
from clinvk.errors import StoreError, UsageError
from clinvk.transcripts.access import adapter_for

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.store import SessionStore
    from clinvk.store.selection import SessionFilter


def select_sessions(store: SessionStore, ids: list[str],
                    selection: SessionFilter | None) -> list[dict[str, Any]]:
    """The records of `ids` (each an id or unique prefix), else every one of selection."""
    if ids:
        found: dict[str, dict[str, Any]] = {}
        for given in ids:
            record = store.get(given)
            found.setdefault(record["id"], record)
        return list(found.values())
    return store.list(selection)


def _file_entry(path: Path, root: Path, redact: bool = False) -> dict[str, str] | None:
    from clinvk.archive_read import relative_under

    rel = relative_under(path, root)
    return None if rel is None else _entry_of(rel, path.read_bytes(), redact)


def _entry_of(rel: str, data: bytes, redact: bool) -> dict[str, str]:
    """One bundle file entry: its path relative to the store root and its content."""
    if redact:  # before any encoding: no form of a secret reaches the bundle
        from clinvk.redact import redact_bytes

        data = redact_bytes(data)
    try:
        return {"path": rel, "content": data.decode("utf-8"), "encoding": "utf-8"}
    except UnicodeDecodeError:
        return {"path": rel, "content": base64.b64encode(data).decode("ascii"),
                "encoding": "base64"}


def transcript_files(app: App, record: dict[str, Any], redact: bool = False) -> dict[str, Any] | None:
    """The backend's own store files of a session, as bundle entries (None when there are none),
    with their secrets redacted when `redact`."""
    session_id = record.get("backend_session_id")
    if not session_id:
        return None
    try:
        adapter, environ = adapter_for(app, record["backend"])
    except UsageError:
        app.env.warn(f"session {record['id'][:8]}: backend {record['backend']!r} is not "
                     "configured; exported without its transcript")
        return None
    root = adapter.store_root(environ)
    files = []
    for path in adapter.session_files(session_id, record["working_dir"], environ):
        try:
            entry = _file_entry(path, root, redact)
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
        if entry is not None:
            files.append(entry)
    if not files:
        files = _archived_entries(app, record, redact)
    if not files:
        app.env.warn(f"session {record['id'][:8]}: no {record['backend']} transcript found; "
                     "exported without it")
        return None
    return {"backend": record["backend"], "files": files}


def _archived_entries(app: App, record: dict[str, Any], redact: bool) -> list[dict[str, str]]:
    """The session's files from clinvk's archive, when the backend's own are gone."""
    from clinvk.archive_read import ArchiveDamaged, contents

    try:
        return [_entry_of(rel, data, redact) for rel, data in contents(app.settings.home, record["id"])]
    except ArchiveDamaged as exc:
        app.env.warn(f"session {record['id'][:8]}: {exc}")
        return []


def _clip(field: str, text: str) -> str:
    """A redacted title, prompt or error shortened again as the store keeps it (a
    `[REDACTED:…]` may be longer than what it replaced)."""
    from clinvk.store.record_check import ERROR_MAX
    from clinvk.store.session import clip_prompt, make_title

    if field == "title":
        return make_title(text)
    if field == "error" and len(text) > ERROR_MAX:
        return text[: ERROR_MAX - 1] + "…"
    return (clip_prompt(text) or "") if field == "prompt" else text


def redacted_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of the record with the secrets of its title, prompts, error, tags and metadata
    replaced (clinvk.redact)."""
    from clinvk.redact import redact_record

    return redact_record(record, _clip)


def export_bundle(app: App, records: list[dict[str, Any]], *, transcripts: bool = True,
                  redact: bool = False) -> dict[str, Any]:
    """The JSON bundle of these session records (`redact`: secrets replaced everywhere)."""
    from clinvk.clock import format_rfc3339, utc_now

    entries = []
    with app.progress("exporting sessions", len(records)) as progress:
        for record in records:
            entry: dict[str, Any] = {"session": redacted_record(record) if redact else record}
            if transcripts:
                entry["transcript"] = transcript_files(app, record, redact)
            entries.append(entry)
            progress.advance()
    bundle = {"format": FORMAT, "version": VERSION, "exported_at": format_rfc3339(utc_now()),
              "sessions": entries}
    if redact:
        bundle[REDACTED] = True
    return bundle


def markdown_export(app: App, records: list[dict[str, Any]], redact: bool = False) -> str:
    """The readable conversation of each session, read from its backend's store (`redact`:
    with its secrets replaced)."""
    parts = []
    with app.progress("exporting sessions", len(records)) as progress:
        for record in records:
            parts.append(_markdown_one(app, record))
            progress.advance()
    text = "\n---\n\n".join(parts) if parts else "_(no sessions)_\n"
    if redact:
        from clinvk.redact import redact_text

        text = redact_text(text)
    return text


def _markdown_one(app: App, record: dict[str, Any]) -> str:
    """One session's heading, facts and conversation in markdown."""
    from clinvk.transcripts.access import load_transcript
    from clinvk.transcripts.render import render_markdown

    head = [f"# {record.get('title') or 'Session ' + record['id'][:8]}", "",
            f"- session: `{record['id']}`", f"- backend: {record['backend']}"
            + (f" ({record['model']})" if record.get("model") else ""),
            f"- directory: `{record['working_dir']}`",
            f"- created: {record.get('created_at')}, last used: {record.get('last_used')}", ""]
    try:
        body = render_markdown(load_transcript(app, record)).split("\n", 2)[2]
    except (UsageError, StoreError) as exc:
        body = f"_(no transcript: {exc.message})_\n"
    except Exception as exc:  # TranscriptGone and the like carry a message too
        body = f"_(no transcript: {getattr(exc, 'message', exc)})_\n"
    return "\n".join(head) + "\n" + body


def write_output(text: str, path: str | None, stdout: Any) -> None:
    """Write to FILE (mode 0600: it holds conversations) or to stdout."""
    if path is None or path == "-":
        stdout.write(text)
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def dump(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, indent=1, ensure_ascii=False) + "\n"
