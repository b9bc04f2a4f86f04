"""claude's project JSONL (see claude_store) read into a Transcript.

One JSON object a line. `user` and `assistant` lines carry `message` (Anthropic shape),
`timestamp`, `sessionId`, `cwd`. One API response may be written as several `assistant`
lines (one per content block) that repeat the same `message.id` and `message.usage`, so
usage is counted once per message id. Usage is normalised as the headless parser does:
input = input_tokens + cache_read + cache_creation (claude reports the uncached part).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_list, as_str
from clinvk.backends.claude_store import usage_from_api_usage
from clinvk.backends.transcript import (
    Message,
    ToolCall,
    Transcript,
    TranscriptUnavailable,
    brief,
    is_context_block,
    known_lines,
)
from clinvk.backends.usage import Usage

SYNTHETIC_MODEL = "<synthetic>"  # claude's own placeholder messages (no API call)


def _user_messages(line: dict[str, Any], message: dict[str, Any]) -> list[Message]:
    time = as_str(line.get("timestamp"))
    content = message.get("content")
    if isinstance(content, str):
        if not content.strip() or is_context_block(content):
            return []
        return [Message("user", content, time)]
    texts: list[str] = []
    out: list[Message] = []
    for block in as_list(content):
        block = as_dict(block)
        kind = block.get("type")
        if kind == "text":
            text = as_str(block.get("text")) or ""
            if text.strip() and not is_context_block(text):
                texts.append(text)
        elif kind == "tool_result":
            result = block.get("content")
            if isinstance(result, list):
                result = "\n".join(as_str(as_dict(b).get("text")) or "" for b in result)
            prefix = "error: " if block.get("is_error") is True else ""
            out.append(Message("tool", prefix + brief(result), time))
        elif kind == "image":
            texts.append("[image]")
    if texts:
        out.insert(0, Message("user", "\n".join(texts), time))
    return out


def _assistant_parts(message: dict[str, Any]) -> tuple[list[str], list[ToolCall]]:
    texts: list[str] = []
    calls: list[ToolCall] = []
    for block in as_list(message.get("content")):
        block = as_dict(block)
        kind = block.get("type")
        if kind == "text" and as_str(block.get("text")):
            texts.append(block["text"])
        elif kind in ("tool_use", "server_tool_use"):
            calls.append(ToolCall(as_str(block.get("name")) or "tool", brief(block.get("input"))))
    return texts, calls


class _Reader:
    """Reads claude's lines in order into a Transcript."""

    def __init__(self) -> None:
        self.transcript = Transcript("claude")
        self.seen_usage: set[str] = set()
        self.last_assistant_id: str | None = None  # message id of messages[-1], if assistant

    def line(self, line: dict[str, Any]) -> bool:
        """Take one line; False when it is not a conversation line."""
        kind = line.get("type")
        if kind not in ("user", "assistant"):
            return False
        transcript = self.transcript
        transcript.session_id = transcript.session_id or as_str(line.get("sessionId"))
        transcript.working_dir = transcript.working_dir or as_str(line.get("cwd"))
        if line.get("isSidechain") is True or line.get("isMeta") is True \
                or line.get("isCompactSummary") is True:  # claude's own summary, not a prompt
            return True
        message = as_dict(line.get("message"))
        if kind == "user":
            found = _user_messages(line, message)
            if found:
                transcript.messages += found
                self.last_assistant_id = None
        else:
            self.assistant(line, message)
        return True

    def assistant(self, line: dict[str, Any], message: dict[str, Any]) -> None:
        transcript = self.transcript
        message_id = as_str(message.get("id")) or as_str(line.get("uuid")) or ""
        model = as_str(message.get("model"))
        if model == SYNTHETIC_MODEL:
            model = None
        usage = None
        if isinstance(message.get("usage"), dict) and message_id not in self.seen_usage:
            self.seen_usage.add(message_id)
            usage = usage_from_api_usage(message["usage"])
            transcript.total_usage = transcript.total_usage + usage
        if model:
            transcript.model = model
        texts, calls = _assistant_parts(message)
        if not texts and not calls and usage is None:
            return
        text = "\n".join(texts)
        if self.last_assistant_id == message_id and transcript.messages:
            prev = transcript.messages[-1]  # another content block of the same API message
            usage = prev.usage if usage is None else (prev.usage or Usage()) + usage
            transcript.messages[-1] = Message(
                "assistant", "\n".join(t for t in (prev.text, text) if t), prev.time,
                prev.tool_calls + tuple(calls), usage, prev.model or model)
            return
        time = as_str(line.get("timestamp"))
        transcript.messages.append(Message("assistant", text, time, tuple(calls), usage, model))
        self.last_assistant_id = message_id


def read_claude_transcript(files: list[Path], whole: bool = False) -> Transcript:
    """The conversation in these files; `whole`: TranscriptUnavailable also for a line that
    is not JSON (a file being written, for adopting it: see transcript.known_lines)."""
    if not files:
        raise TranscriptUnavailable("no claude transcript file")
    reader = _Reader()
    for path in files:
        for line in known_lines(path, "claude", lambda line: isinstance(line.get("type"), str),
                                whole):
            reader.line(line)
    return reader.transcript
