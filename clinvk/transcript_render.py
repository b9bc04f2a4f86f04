"""`sessions show ID --transcript`: load a session's conversation from its backend's own
store and render it as text, markdown or JSON (one shape for every backend)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.backends.transcript import Message, Transcript, TranscriptUnavailable
from clinvk.errors import ClinvkError, ExitCode, UsageError

if TYPE_CHECKING:
    from clinvk.app import App

FORMATS = ("text", "markdown", "json")
ROLE_NAMES = {"user": "user", "assistant": "assistant", "tool": "tool result"}


class TranscriptGone(ClinvkError):
    """The backend's transcript of a session cannot be read."""

    exit_code = ExitCode.BACKEND_FAILED


def backend_context(app: App, record: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """The adapter of a session's backend and the environment its CLI runs with."""
    from clinvk.backends import NAMES, get_adapter

    backend = record["backend"]
    environ = dict(app.env.environ)
    try:
        conf = app.settings.backend(backend)
        adapter = get_adapter(app.settings.adapter_name(backend))
        environ.update(conf.get("env") or {})
    except (UsageError, KeyError):
        if backend not in NAMES:
            raise UsageError(f"session {record['id'][:8]} uses backend {backend!r}, which is not "
                             "configured: cannot read its transcript") from None
        adapter = get_adapter(backend)
    return adapter, environ


def transcript_files(
    app: App, record: dict[str, Any], context: tuple[Any, dict[str, str]] | None = None
) -> tuple[Any, list[Path]]:
    """The adapter of a session's backend and its store files holding the conversation."""
    short = record["id"][:8]
    backend = record["backend"]
    session_id = record.get("backend_session_id")
    if not session_id:
        raise UsageError(f"session {short} has no backend session id: there is no transcript")
    adapter, environ = context or backend_context(app, record)
    files = adapter.session_files(session_id, record["working_dir"], environ)
    if not files:
        raise TranscriptGone(f"the {backend} transcript of session {short} is gone: no store "
                             f"file of {backend} session {session_id} was found")
    return adapter, files


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


def _time(stamp: str | None) -> str:
    if not stamp:
        return ""
    from clinvk.clock import format_rfc3339, parse_rfc3339

    try:
        return format_rfc3339(parse_rfc3339(stamp)).replace("T", " ").replace("Z", " UTC")
    except ValueError:
        return stamp


def _tools(message: Message, prefix: str) -> list[str]:
    return [f"{prefix}{call.name}({call.brief})" for call in message.tool_calls]


def render_text(transcript: Transcript) -> str:
    lines: list[str] = []
    for message in transcript.messages:
        if message.role == "tool":
            lines.append(f"    ← {message.text}")
            continue
        stamp = _time(message.time)
        lines.append(f"[{stamp}] {ROLE_NAMES[message.role]}:" if stamp
                     else f"{ROLE_NAMES[message.role]}:")
        if message.text:
            lines += [f"  {line}" if line else "" for line in message.text.splitlines()]
        lines += _tools(message, "  → ")
        lines.append("")
    if not transcript.messages:
        lines.append("(the transcript holds no messages)")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_markdown(transcript: Transcript, title: str | None = None) -> str:
    out: list[str] = [f"# {title or 'Transcript'}", ""]
    for message in transcript.messages:
        if message.role == "tool":
            out += [f"> tool result: {message.text}", ""]
            continue
        stamp = _time(message.time)
        out.append(f"### {message.role.capitalize()}" + (f" · {stamp}" if stamp else ""))
        out.append("")
        if message.text:
            out += [message.text, ""]
        tools = _tools(message, "- tool call: `")
        if tools:
            out += [t + "`" for t in tools] + [""]
    if not transcript.messages:
        out += ["_(the transcript holds no messages)_", ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render_json(transcript: Transcript, record: dict[str, Any]) -> str:
    data = {
        "session_id": record["id"],
        "backend": record["backend"],
        "backend_session_id": record.get("backend_session_id"),
        "model": transcript.model or record.get("model"),
        "working_dir": record["working_dir"],
        "messages": [m.to_dict() for m in transcript.messages],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def render(transcript: Transcript, record: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return render_json(transcript, record)
    if fmt == "markdown":
        return render_markdown(transcript, record.get("title"))
    return render_text(transcript)
