"""`sessions show ID --transcript`: a session's conversation (read by transcripts.access)
rendered as text, markdown or JSON (one shape for every backend)."""

from __future__ import annotations

import json
from typing import Any

from clinvk.backends.transcript import Message, Transcript

FORMATS = ("text", "markdown", "json")
ROLE_NAMES = {"user": "user", "assistant": "assistant", "tool": "tool result"}


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
