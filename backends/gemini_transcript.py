"""gemini's chat file (`~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`, see
gemini_store) read into a Transcript.

The file is a log of changes to one chat object: a header line (`sessionId`,
`projectHash`, `startTime`, written again when the session is resumed), message records
(`id`, `timestamp`, `type` user/gemini/info/error, `content`, and for gemini messages
`tokens` and `toolCalls`; a record with a known id replaces that message), and `$set`
records (`messages` replaces the whole list). Older versions wrote one JSON object with
a `messages` list, which is read as well.

Usage per gemini message: `tokens.input` is every prompt token (cached included),
`tokens.output` the candidates and `tokens.thoughts` the thinking, which SPEC counts in
the output. The model-router requests gemini makes without `-m` are not in the file;
for interactive runs clinvk reads them from gemini's local telemetry (gemini_usage).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_int, as_list, as_str
from clinvk.backends.transcript import (
    Message,
    ToolCall,
    Transcript,
    TranscriptUnavailable,
    brief,
    is_context_block,
    not_whole,
    read_json_lines,
    unknown_shape,
)
from clinvk.backends.usage import Usage


def usage_from_tokens(tokens: Any) -> Usage:
    tokens = as_dict(tokens)
    thoughts = as_int(tokens.get("thoughts"))
    return Usage(
        input_tokens=as_int(tokens.get("input")) + as_int(tokens.get("tool")),
        cached_input_tokens=as_int(tokens.get("cached")),
        output_tokens=as_int(tokens.get("output")) + thoughts,
        reasoning_tokens=thoughts,
    )


def _parts(content: Any, seen: set[str]) -> tuple[str, list[ToolCall], list[str]]:
    """(text, function calls, briefs of function responses not seen before) of parts."""
    if isinstance(content, str):
        return content, [], []
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[str] = []
    for part in as_list(content):
        part = as_dict(part)
        if as_str(part.get("text")) and part.get("thought") is not True:
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            calls.append(ToolCall(as_str(call.get("name")) or "tool", brief(call.get("args"))))
        elif isinstance(part.get("functionResponse"), dict):
            response = part["functionResponse"]
            key = as_str(response.get("id")) or ""
            if key and key in seen:
                continue
            seen.add(key)
            output = response.get("response")
            results.append(brief(as_dict(output).get("output", output)))
    return "".join(texts), calls, results


def _messages(raw: dict[str, Any], seen: set[str]) -> list[Message]:
    kind = raw.get("type")
    time = as_str(raw.get("timestamp"))
    if kind == "user":
        text, _, results = _parts(raw.get("content"), seen)
        out = [Message("tool", r, time) for r in results]
        if text.strip() and not is_context_block(text):
            out.insert(0, Message("user", text, time))
        return out
    if kind in ("gemini", "model", "assistant"):
        text, calls, _ = _parts(raw.get("content"), seen)
        calls += [ToolCall(as_str(as_dict(c).get("name")) or "tool", brief(as_dict(c).get("args")))
                  for c in as_list(raw.get("toolCalls"))]
        out = [Message("assistant", text, time, tuple(calls), _usage_of(raw),
                       as_str(raw.get("model")))]
        for call in as_list(raw.get("toolCalls")):
            _, _, results = _parts(as_list(as_dict(call).get("result")), seen)
            out += [Message("tool", r, time) for r in results]
        return out
    return []  # info / warning / error lines of the CLI itself


def _usage_of(raw: dict[str, Any]) -> Usage | None:
    return usage_from_tokens(raw["tokens"]) if isinstance(raw.get("tokens"), dict) else None


class _Chat:
    """Replays the log. A `$set` of the messages (gemini rewrites the list when a session
    is resumed, without timestamps or token counts) sets the order of the messages, but a
    message already seen keeps its first full record. Usage is summed over every gemini
    message ever written, also those a later `$set` left out (they were billed)."""

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.order: list[str] = []
        self.by_id: dict[str, dict[str, Any]] = {}
        self.usage: dict[str, Usage] = {}

    def set_messages(self, messages: list[Any]) -> None:
        self.order = []
        for n, raw in enumerate(messages):
            raw = as_dict(raw)
            key = as_str(raw.get("id")) or f"#{n}"
            self.order.append(key)
            known = self.by_id.get(key)
            if known is None or ("tokens" not in known and "tokens" in raw):
                self.put(raw, key)

    def put(self, raw: dict[str, Any], key: str) -> None:
        if key not in self.order:
            self.order.append(key)
        self.by_id[key] = raw
        usage = _usage_of(raw)
        if usage is not None:
            self.usage[key] = usage

    def record(self, line: dict[str, Any], n: int) -> bool:
        if "sessionId" in line and "type" not in line:
            self.meta.update(line)
        elif isinstance(line.get("$set"), dict):
            update = line["$set"]
            if isinstance(update.get("messages"), list):
                self.set_messages(update["messages"])
            self.meta.update({k: v for k, v in update.items() if k != "messages"})
        elif isinstance(line.get("type"), str) and ("content" in line or "id" in line):
            self.put(line, as_str(line.get("id")) or f"line{n}")
        else:
            return "$unset" in line or "$push" in line
        return True


def read_gemini_transcript(files: list[Path], whole: bool = False) -> Transcript:
    """The conversation in these chat files; `whole` as claude_transcript's."""
    if not files:
        raise TranscriptUnavailable("no gemini chat file")
    transcript = Transcript("gemini")
    for path in files:
        chat = _Chat()
        lines, bad = read_json_lines(path)
        if bad and not lines:
            lines = _whole_json(path)
        elif bad and whole:
            raise not_whole(path, bad)
        known = 0
        for n, line in enumerate(lines):
            known += chat.record(line, n)
        if not known and (lines or bad):
            raise unknown_shape("gemini", path)
        transcript.session_id = transcript.session_id or as_str(chat.meta.get("sessionId"))
        seen: set[str] = set()
        for key in chat.order:
            for message in _messages(chat.by_id[key], seen):
                transcript.messages.append(message)
                transcript.model = message.model or transcript.model
        for usage in chat.usage.values():
            transcript.total_usage = transcript.total_usage + usage
    return transcript


def _whole_json(path: Path) -> list[dict[str, Any]]:
    """An older chat file: one JSON object with `sessionId` and `messages`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError, RecursionError):
        return []
    data = as_dict(data)
    if not isinstance(data.get("messages"), list):
        return []
    meta = {k: v for k, v in data.items() if k != "messages"}
    return [meta, {"$set": {"messages": data["messages"]}}] if "sessionId" in meta else []
