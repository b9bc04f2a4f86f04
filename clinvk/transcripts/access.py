"""A session's conversation where its backend keeps it: the backend's adapter and the
environment its CLI runs with (adapter_for, the one place that resolves them), the store
files holding a session's conversation, and the conversation read from them."""

from __future__ import annotations

from pathlib import Path

from clinvk.backends.transcript import Transcript, TranscriptUnavailable
from clinvk.errors import ClinvkError, ExitCode, UsageError

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

if TYPE_CHECKING:
    from typing import Any

    from clinvk.app import App
    from clinvk.backends.base import Adapter

# an adapter and the environment its backend's CLI runs with
Context = tuple["Adapter", dict[str, str]]


class TranscriptGone(ClinvkError):
    """The backend's transcript of a session cannot be read."""

    exit_code = ExitCode.BACKEND_FAILED


def adapter_for(app: App, backend: str) -> Context:
    """The adapter of a backend name and the environment it runs with (the configured
    one, else the built-in backend of that name); UsageError if there is neither."""
    from clinvk.backends import NAMES, get_adapter

    environ = dict(app.env.environ)
    try:
        conf = app.settings.backend(backend)
        adapter = get_adapter(app.settings.adapter_name(backend))
        environ.update(conf.get("env") or {})
        return adapter, environ
    except (UsageError, KeyError):
        if backend in NAMES:
            return get_adapter(backend), environ
        raise UsageError(f"backend {backend!r} is not configured") from None


def backend_context(app: App, record: dict[str, Any]) -> Context:
    """adapter_for a session's backend; its UsageError names the session."""
    try:
        return adapter_for(app, record["backend"])
    except UsageError:
        raise UsageError(f"session {record['id'][:8]} uses backend {record['backend']!r}, which "
                         "is not configured: cannot read its transcript") from None


def transcript_files(
    app: App, record: dict[str, Any], context: Context | None = None, archived: bool = True
) -> tuple[Any, list[Path]]:
    """The adapter of a session's backend and its store files holding the conversation; when
    the backend's files are gone (and `archived`), plain copies of clinvk's archived ones."""
    short = record["id"][:8]
    backend = record["backend"]
    session_id = record.get("backend_session_id")
    if not session_id:
        raise UsageError(f"session {short} has no backend session id: there is no transcript")
    adapter, environ = context or backend_context(app, record)
    files = adapter.session_files(session_id, record["working_dir"], environ)
    if not files and archived:
        files = _archived_copies(app, record)
    if not files:
        raise TranscriptGone(f"the {backend} transcript of session {short} is gone: no store "
                             f"file of {backend} session {session_id} was found")
    return adapter, files


def _archived_copies(app: App, record: dict[str, Any]) -> list[Path]:
    """Plain copies of the session's archived store files ([] when it has no archive)."""
    from clinvk.archive_read import ArchiveDamaged, plain_copies

    try:
        return plain_copies(app.settings.home, record["id"])
    except ArchiveDamaged as exc:
        raise TranscriptGone(f"the {record['backend']} transcript of session "
                             f"{record['id'][:8]} is gone and {exc}") from None
    except OSError as exc:
        raise TranscriptGone(f"the {record['backend']} transcript of session "
                             f"{record['id'][:8]} is gone and its archived copy cannot be "
                             f"read: {exc.strerror or exc}") from None


def load_transcript(
    app: App, record: dict[str, Any], found: tuple[Any, list[Path]] | None = None
) -> Transcript:
    """The conversation of a session record, read from its backend's store."""
    adapter, files = found or transcript_files(app, record)
    try:
        return adapter.read_transcript(files)
    except TranscriptUnavailable as exc:
        raise TranscriptGone(f"cannot read the {record['backend']} transcript of session "
                             f"{record['id'][:8]}: {exc}") from None
