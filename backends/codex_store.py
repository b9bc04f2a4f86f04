"""codex's own store: `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`.

Lines are `{"timestamp", "type", "payload"}`: `session_meta` (id, cwd), `turn_context`
(model), `response_item` (messages, tool calls and their output), `event_msg` (among
them `token_count`, whose `info.total_token_usage` is the thread's running total). The
usage of a stretch of the conversation is the difference of two running totals.

Its paths, its reader, and moving and forking a thread (measured on codex 0.169.0): codex
finds a thread from anywhere by the id in the file name; a fork is a copy of the rollout
under a new id, resumed with `exec resume NEWID`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import (
    as_dict,
    as_int,
    as_list,
    as_str,
    clean_line,
    decode_line,
    home_dir,
    is_safe_id,
    read_first_json_line,
)
from clinvk.backends._relocate import check_rel_path, rewrite_item, write_store_file
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

KNOWN_TYPES = ("session_meta", "response_item", "event_msg", "turn_context")
TOOL_CALLS = ("function_call", "custom_tool_call", "local_shell_call", "web_search_call",
              "tool_search_call")
TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "tool_search_output")


def usage_from_codex(usage: Any) -> Usage:
    """Normalise a codex usage object (`turn.completed.usage` or a rollout's
    `total_token_usage`): input already includes cached, output already includes reasoning."""
    usage = as_dict(usage)
    return Usage(
        input_tokens=as_int(usage.get("input_tokens")),
        cached_input_tokens=as_int(usage.get("cached_input_tokens")),
        cache_creation_input_tokens=as_int(usage.get("cache_write_input_tokens")),
        output_tokens=as_int(usage.get("output_tokens")),
        reasoning_tokens=as_int(usage.get("reasoning_output_tokens")),
    )


# --- paths and running totals -----------------------------------------------------------


def codex_home(environ: Mapping[str, str]) -> Path:
    configured = environ.get("CODEX_HOME")
    return Path(configured) if configured else home_dir(environ) / ".codex"


def rollout_files(thread_id: str, environ: Mapping[str, str]) -> list[Path]:
    """`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread id>.jsonl`, oldest first."""
    if not is_safe_id(thread_id):
        return []
    sessions = codex_home(environ) / "sessions"
    try:
        found = [p for p in sessions.glob(f"*/*/*/rollout-*-{thread_id}.jsonl") if p.is_file()]
    except OSError:
        return []
    return sorted(found, key=lambda p: p.name)


def last_total_usage(rollout: Path) -> Usage | None:
    """The thread's running total in a rollout file: the last `event_msg` `token_count`'s
    `info.total_token_usage`, or None when there is none."""
    found: Usage | None = None
    try:
        with rollout.open("r", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if '"token_count"' not in line:
                    continue
                record = as_dict(decode_line(clean_line(line)))
                payload = as_dict(record.get("payload"))
                if record.get("type") != "event_msg" or payload.get("type") != "token_count":
                    continue
                total = as_dict(payload.get("info")).get("total_token_usage")
                if isinstance(total, dict):
                    found = usage_from_codex(total)
    except OSError:
        return None
    return found


def running_total(thread_id: str, environ: Mapping[str, str]) -> Usage | None:
    """The thread's running total as its last rollout with one records it, else None."""
    for rollout in reversed(rollout_files(thread_id, environ)):
        usage = last_total_usage(rollout)
        if usage is not None:
            return usage
    return None


# --- reading a transcript ------------------------------------------------------------------


def _texts(content: Any) -> list[str]:
    out = []
    for part in as_list(content):
        text = as_str(as_dict(part).get("text"))
        if text:
            out.append(text)
    return out


def _tool_call(payload: dict[str, Any]) -> ToolCall:
    name = as_str(payload.get("name")) or payload.get("type", "tool")
    args: Any = payload.get("arguments", payload.get("input", payload.get("action")))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return ToolCall(str(name), brief(args))


class _Reader:
    def __init__(self) -> None:
        self.transcript = Transcript("codex")
        self.running = Usage()  # the last running total seen
        self.unassigned = Usage()  # usage not yet attached to a message

    def line(self, line: dict[str, Any]) -> None:
        kind = line.get("type")
        payload = as_dict(line.get("payload"))
        time = as_str(line.get("timestamp"))
        transcript = self.transcript
        if kind == "session_meta":
            transcript.session_id = transcript.session_id or as_str(payload.get("id"))
            transcript.working_dir = transcript.working_dir or as_str(payload.get("cwd"))
        elif kind == "turn_context":
            transcript.model = as_str(payload.get("model")) or transcript.model
        elif kind == "event_msg" and payload.get("type") == "token_count":
            self.token_count(payload)
        elif kind == "response_item":
            self.item(payload, time)

    def token_count(self, payload: dict[str, Any]) -> None:
        total = as_dict(payload.get("info")).get("total_token_usage")
        if not isinstance(total, dict):
            return
        running = usage_from_codex(total)
        delta = running - self.running
        self.running = running
        self.transcript.total_usage = running
        messages = self.transcript.messages
        if messages and messages[-1].role != "user":
            last = messages[-1]
            messages[-1] = replace(last, usage=(last.usage or Usage()) + delta + self.unassigned)
            self.unassigned = Usage()
        else:
            self.unassigned = self.unassigned + delta

    def item(self, payload: dict[str, Any], time: str | None) -> None:
        kind = payload.get("type")
        messages = self.transcript.messages
        model = self.transcript.model
        if kind == "message":
            role = payload.get("role")
            texts = _texts(payload.get("content"))
            if role == "user":
                texts = [t for t in texts if not is_context_block(t)]
                if texts:
                    messages.append(Message("user", "\n".join(texts), time))
            elif role == "assistant" and texts:
                messages.append(Message("assistant", "\n".join(texts), time, model=model))
        elif kind in TOOL_CALLS:
            call = _tool_call(payload)
            if messages and messages[-1].role == "assistant" and messages[-1].usage is None:
                last = messages[-1]
                messages[-1] = replace(last, tool_calls=last.tool_calls + (call,))
            else:
                messages.append(Message("assistant", "", time, (call,), model=model))
        elif kind in TOOL_OUTPUTS:
            output = payload.get("output")
            if isinstance(output, dict):
                output = output.get("content", output)
            messages.append(Message("tool", brief(output), time))


def read_codex_transcript(files: list[Path]) -> Transcript:
    if not files:
        raise TranscriptUnavailable("no codex rollout file")
    reader = _Reader()
    for path in files:
        for line in known_lines(path, "codex", lambda line: line.get("type") in KNOWN_TYPES):
            reader.line(line)
    return reader.transcript


# --- finding the rollout an interactive run created -------------------------------------


def list_rollouts(environ: Mapping[str, str]) -> set[Path]:
    return glob_files(codex_home(environ) / "sessions", "*/*/*/rollout-*.jsonl")


def _same_dir(a: str | None, b: str) -> bool:
    if not a:
        return False
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except OSError:
        return False


def find_new_rollout(working_dir: str, started_at: float, environ: Mapping[str, str],
                     before: set[Path]) -> str | None:
    """The thread id of the newest rollout created since `before` whose `session_meta.cwd`
    is `working_dir`."""
    for path in fresh_files(list_rollouts(environ), before, started_at):
        first = read_first_json_line(path)
        payload = as_dict(first.get("payload"))
        if first.get("type") == "session_meta" and _same_dir(as_str(payload.get("cwd")), working_dir):
            thread_id = as_str(payload.get("id"))
            if thread_id:
                return thread_id
    return None


# --- moving and forking a thread ------------------------------------------------------------


def uuid7() -> str:
    """A UUID version 7 (48-bit milliseconds, then random), the form of codex's thread ids."""
    value = (int(time.time() * 1000) & ((1 << 48) - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # variant
    return str(uuid.UUID(int=value))


_ROLLOUT = re.compile(r"rollout-(.+)-(.+)\.jsonl")


def codex_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    """The adapter's `relocate`: each rollout renamed for the new thread id, in its folder."""
    out = []
    for item in items:
        files = []
        for file in item.files:
            parts = check_rel_path(file.path)
            name = parts[-1]
            suffix = f"-{item.old_id}.jsonl"
            dated = len(parts) == 5 and all(p.isdigit() for p in parts[1:4])
            if parts[0] != "sessions" or not dated or not _ROLLOUT.fullmatch(name) \
                    or not name.endswith(suffix):
                raise ValueError(f"{file.path!r} is not sessions/YYYY/MM/DD/rollout-<time>"
                                 f"-{item.old_id}.jsonl")
            new_name = name[: -len(suffix)] + f"-{item.new_id}.jsonl"
            files.append(StoreFile("/".join([*parts[:-1], new_name]), rewrite_item(item, file.content)))
        out.append(files)
    return out


def codex_prepare_fork(thread_id: str, environ: Mapping[str, str]) -> str:
    """Copy the thread's rollout under a new thread id (today's folder) and return that id."""
    files = rollout_files(thread_id, environ)
    if not files:
        raise ValueError(f"no codex rollout of thread {thread_id} was found")
    source = files[-1]
    new_id = uuid7()
    now = datetime.now(timezone.utc)
    name = f"rollout-{now.strftime('%Y-%m-%dT%H-%M-%S')}-{thread_id}.jsonl"
    rel = f"sessions/{now:%Y/%m/%d}/{name}"
    item = Relocation((StoreFile(rel, source.read_bytes()),), thread_id, new_id, "/", "/")
    [[copy]] = codex_relocate([item])
    write_store_file(codex_home(environ), copy.path, copy.content)
    return new_id
