"""claude's own store: `<config dir>/projects/<encoded cwd>/<session id>.jsonl`.

Its paths, its reader, and moving a session (`relocate`). The folder name of a project is
its path with every non-alphanumeric character replaced by '-'; lines carry `cwd` and
`sessionId`. A fork needs no copy: it is claude's own `--resume ID --fork-session`.
(Measured on claude 2.1.330.)

One JSON object a line. `user` and `assistant` lines carry `message` (Anthropic shape),
`timestamp`, `sessionId`, `cwd`. One API response may be written as several `assistant`
lines (one per content block) that repeat the same `message.id` and `message.usage`, so
usage is counted once per message id. Usage is normalised as the headless parser does:
input = input_tokens + cache_read + cache_creation (claude reports the uncached part).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_int, as_list, as_str, home_dir, is_safe_id
from clinvk.backends._relocate import check_rel_path, only_file, rewrite_item
from clinvk.backends.base import Relocation, StoreFile, Usage
from clinvk.backends.transcript import (
    Message,
    ToolCall,
    Transcript,
    TranscriptUnavailable,
    brief,
    fresh_files,
    glob_files,
    is_context_block,
    known_lines,
)

SYNTHETIC_MODEL = "<synthetic>"  # claude's own placeholder messages (no API call)


# --- usage (the Anthropic shape: the headless parser's and the transcript's) -------------


def _anthropic_usage(uncached: int, cache_read: int, cache_write: int, output: int,
                     thinking: int) -> Usage:
    """Normalised usage from Anthropic's figures, whose input is only the uncached part:
    cache reads and cache writes come on top."""
    return Usage(
        input_tokens=uncached + cache_read + cache_write,
        cached_input_tokens=cache_read,
        cache_creation_input_tokens=cache_write,
        output_tokens=output,
        reasoning_tokens=thinking,
    )


def usage_from_api_usage(usage: Any) -> Usage:
    """Normalise the Anthropic `usage` object of a result or of a transcript line."""
    usage = as_dict(usage)
    return _anthropic_usage(
        as_int(usage.get("input_tokens")), as_int(usage.get("cache_read_input_tokens")),
        as_int(usage.get("cache_creation_input_tokens")), as_int(usage.get("output_tokens")),
        as_int(as_dict(usage.get("output_tokens_details")).get("thinking_tokens")))


def usage_from_model_usage(model_usage: Any) -> Usage:
    """Sum claude's per-model totals (`modelUsage`: camelCase, input uncached) over models."""
    total = Usage()
    for entry in as_dict(model_usage).values():
        entry = as_dict(entry)
        total += _anthropic_usage(
            as_int(entry.get("inputTokens")), as_int(entry.get("cacheReadInputTokens")),
            as_int(entry.get("cacheCreationInputTokens")), as_int(entry.get("outputTokens")),
            as_int(entry.get("thinkingTokens")))
    return total


# --- reading a transcript ----------------------------------------------------------------


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
        if line.get("isSidechain") is True or line.get("isMeta") is True:
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


def read_claude_transcript(files: list[Path]) -> Transcript:
    if not files:
        raise TranscriptUnavailable("no claude transcript file")
    reader = _Reader()
    for path in files:
        for line in known_lines(path, "claude", lambda line: isinstance(line.get("type"), str)):
            reader.line(line)
    return reader.transcript


# --- paths and finding files ------------------------------------------------------------


def project_dir_name(working_dir: str) -> str:
    """claude's folder name for a project: the path with every non-alphanumeric char -> '-'."""
    return re.sub(r"[^A-Za-z0-9]", "-", working_dir)


def claude_config_dir(environ: Mapping[str, str]) -> Path:
    configured = environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else home_dir(environ) / ".claude"


def projects_dir(environ: Mapping[str, str]) -> Path:
    return claude_config_dir(environ) / "projects"


def claude_session_files(session_id: str, working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    """`<config>/projects/<encoded cwd>/<id>.jsonl`; when the cwd folder is not found
    (symlinked or very long paths are encoded differently) any project folder holding
    a file of that id."""
    if not is_safe_id(session_id):
        return []
    projects = os.path.join(claude_config_dir(environ), "projects")
    filename = f"{session_id}.jsonl"
    try:
        exact = os.path.join(projects, project_dir_name(working_dir), filename)
        if os.path.isfile(exact):  # the common case, kept cheap: search calls it per session
            return [Path(exact)]
        return sorted(p for p in Path(projects).glob(f"*/{filename}") if p.is_file())
    except OSError:
        return []


def list_claude_files(working_dir: str, environ: Mapping[str, str]) -> set[Path]:
    return glob_files(projects_dir(environ) / project_dir_name(working_dir), "*.jsonl")


def find_new_claude_session(working_dir: str, started_at: float, environ: Mapping[str, str],
                            before: set[Path]) -> str | None:
    """A new `<id>.jsonl` in the working dir's project folder, newest first."""
    fresh = [p for p in fresh_files(list_claude_files(working_dir, environ), before, started_at)
             if is_safe_id(p.stem)]
    return fresh[0].stem if fresh else None


# --- moving a session ---------------------------------------------------------------------


def claude_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    """The adapter's `relocate`: `projects/<dir>/<id>.jsonl` under the new dir and id."""
    out = []
    for item in items:
        file = only_file(item, "claude")
        parts = check_rel_path(file.path)
        if len(parts) != 3 or parts[0] != "projects" or parts[2] != f"{item.old_id}.jsonl":
            raise ValueError(f"{file.path!r} is not projects/<dir>/{item.old_id}.jsonl")
        path = f"projects/{project_dir_name(item.new_dir)}/{item.new_id}.jsonl"
        out.append([StoreFile(path, rewrite_item(item, file.content))])
    return out
