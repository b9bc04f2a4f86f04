"""gemini's own store: `~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl`.

The file is a log of changes to one chat object: a header line (`sessionId`,
`projectHash`, `startTime`, written again when the session is resumed), message records
(`id`, `timestamp`, `type` user/gemini/info/error, `content`, and for gemini messages
`tokens` and `toolCalls`; a record with a known id replaces that message), and `$set`
records (`messages` replaces the whole list). Older versions wrote one JSON object with
a `messages` list, which is read as well.

Usage per gemini message: `tokens.input` is every prompt token (cached included),
`tokens.output` the candidates and `tokens.thoughts` the thinking, which SPEC counts in
the output. The model-router requests gemini makes without `-m` are not in the file;
for interactive runs clinvk reads them from gemini's local telemetry (below).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_int, as_list, as_str, read_first_json_line
from clinvk.backends.base import Usage
from clinvk.backends.transcript import (
    Message,
    ToolCall,
    Transcript,
    TranscriptUnavailable,
    brief,
    is_context_block,
    mtime,
    read_json_lines,
    unknown_shape,
)


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


def read_gemini_transcript(files: list[Path]) -> Transcript:
    if not files:
        raise TranscriptUnavailable("no gemini chat file")
    transcript = Transcript("gemini")
    for path in files:
        chat = _Chat()
        lines, bad = read_json_lines(path)
        if bad and not lines:
            lines = _whole_json(path)
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


# --- finding the chat file an interactive run created -----------------------------------


def list_chat_files(environ: Mapping[str, str]) -> set[Path]:
    from clinvk.backends.gemini import gemini_dir

    tmp = gemini_dir(environ) / "tmp"
    try:
        return {p for p in tmp.glob("*/chats/session-*.json*") if p.is_file()}
    except OSError:
        return set()


def project_hashes(working_dir: str) -> set[str]:
    paths = {os.path.abspath(working_dir)}
    try:
        paths.add(os.path.realpath(working_dir))
    except OSError:
        pass
    return {hashlib.sha256(p.encode()).hexdigest() for p in paths}


def find_new_chat(working_dir: str, started_at: float, environ: Mapping[str, str],
                  before: set[Path]) -> str | None:
    """The session id of the newest chat file created since `before` whose `projectHash`
    is the working dir's (a main chat, not a subagent's)."""
    hashes = project_hashes(working_dir)
    for path in sorted(list_chat_files(environ) - before, key=mtime, reverse=True):
        if mtime(path) < started_at - 2:
            continue
        head = read_first_json_line(path)
        if head.get("projectHash") in hashes and head.get("kind", "main") == "main":
            session_id = as_str(head.get("sessionId"))
            if session_id:
                return session_id
    return None


# --- exact usage of an interactive run: gemini's own local telemetry ----------------------
#
# The chat file leaves out the model-router request gemini makes before each turn (and any
# other utility request), so its figures are lower than what the API billed. gemini's
# OpenTelemetry log does record every request: one `gemini_cli.api_response` event per API
# response with the token counts, `session.id`, `prompt_id` (one per typed prompt) and
# `role` (`main`, `utility_router`, ...). For an interactive run clinvk therefore turns
# gemini's telemetry on for that process only, with target `local` and the outfile in a
# private temporary folder that clinvk deletes after reading it, and prompts left out
# (GEMINI_TELEMETRY_LOG_PROMPTS=false); gemini then writes the file and connects nowhere
# but the API (checked with strace against the stand-in). When the user has gemini's
# telemetry enabled themselves (env or settings), clinvk leaves it alone and the figures
# come from the chat file.

TELEMETRY_FILE = "gemini-telemetry.log"


def _settings_files(working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    from clinvk.backends.gemini import gemini_dir

    system = environ.get("GEMINI_CLI_SYSTEM_SETTINGS_PATH") or "/etc/gemini-cli/settings.json"
    return [Path(system), gemini_dir(environ) / "settings.json",
            Path(working_dir) / ".gemini" / "settings.json"]


def user_telemetry_enabled(working_dir: str, environ: Mapping[str, str]) -> bool:
    """Whether the user has gemini's telemetry on (GEMINI_TELEMETRY_ENABLED, which wins,
    or `telemetry.enabled` in a settings file); a settings file clinvk cannot parse that
    mentions telemetry counts as on."""
    configured = environ.get("GEMINI_TELEMETRY_ENABLED")
    if configured is not None:
        return configured.strip().lower() in ("true", "1")
    for path in _settings_files(working_dir, environ):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if '"telemetry"' not in text:
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return True
        if as_dict(as_dict(data).get("telemetry")).get("enabled") is True:
            return True
    return False


def telemetry_env(working_dir: str, environ: Mapping[str, str], scratch: Path) -> dict[str, str]:
    """The variables that make an interactive gemini log its API responses to a file in
    `scratch`; empty when the user's own telemetry is on."""
    if user_telemetry_enabled(working_dir, environ):
        return {}
    return {"GEMINI_TELEMETRY_ENABLED": "true", "GEMINI_TELEMETRY_TARGET": "local",
            "GEMINI_TELEMETRY_OUTFILE": str(scratch / TELEMETRY_FILE),
            "GEMINI_TELEMETRY_LOG_PROMPTS": "false", "GEMINI_TELEMETRY_USE_COLLECTOR": "false"}


def _telemetry_records(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of an outfile (pretty-printed, one after the other)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    decoder = json.JSONDecoder()
    records: list[dict[str, Any]] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            break
        try:
            obj, at = decoder.raw_decode(text, at)
        except ValueError:  # a record cut short (gemini killed while writing)
            break
        if isinstance(obj, dict):
            records.append(obj)
    return records


def _event_usage(attrs: dict[str, Any]) -> Usage:
    thoughts = as_int(attrs.get("thoughts_token_count"))
    return Usage(
        input_tokens=as_int(attrs.get("input_token_count")) + as_int(attrs.get("tool_token_count")),
        cached_input_tokens=as_int(attrs.get("cached_content_token_count")),
        output_tokens=as_int(attrs.get("output_token_count")) + thoughts,
        reasoning_tokens=thoughts,
    )


def _epoch(value: Any) -> float | None:
    from clinvk.clock import parse_rfc3339

    try:
        return parse_rfc3339(value).timestamp() if isinstance(value, str) else None
    except ValueError:
        return None


def telemetry_usage(path: Path, session_id: str) -> list[tuple[float, Usage]]:
    """Per prompt of the session, in order: (time of its last API response, the usage of
    all its API responses, router and utility requests included)."""
    groups: dict[str, tuple[float, Usage]] = {}
    for record in _telemetry_records(path):
        attrs = as_dict(record.get("attributes"))
        if attrs.get("event.name") != "gemini_cli.api_response":
            continue
        if as_str(attrs.get("session.id")) not in (None, session_id):
            continue
        when = _epoch(attrs.get("event.timestamp"))
        if when is None:
            return []
        key = as_str(attrs.get("prompt_id")) or f"#{len(groups)}"
        last, usage = groups.get(key, (when, Usage()))
        groups[key] = (max(last, when), usage + _event_usage(attrs))
    return sorted(groups.values(), key=lambda group: group[0])


def exact_turn_usage(turns: list[Any], path: Path, session_id: str) -> list[Any] | None:
    """`turns` (TranscriptTurn) with the usage gemini's telemetry recorded: each prompt's
    requests go to the last turn sent before they ended. None when the telemetry is missing
    or does not cover what the chat file records (then the chat file's figures stand)."""
    from dataclasses import replace

    groups = telemetry_usage(path, session_id)
    if not groups or not turns:
        return None
    starts = [_epoch(turn.time) for turn in turns]
    if any(start is None for start in starts):
        return None
    usage = [Usage() for _ in turns]
    for end, group in groups:
        index = 0
        for n, start in enumerate(starts):
            if start is not None and start <= end:
                index = n
        usage[index] = usage[index] + group
    for turn, exact in zip(turns, usage, strict=True):
        recorded = turn.usage
        if (exact.input_tokens < recorded.input_tokens
                or exact.output_tokens < recorded.output_tokens
                or exact.cached_input_tokens < recorded.cached_input_tokens):
            return None
    return [replace(turn, usage=exact) for turn, exact in zip(turns, usage, strict=True)]
