"""codex's rollout (see codex_store) read into a Transcript.

Lines are `{"timestamp", "type", "payload"}`: `session_meta` (id, cwd), `turn_context`
(model), `response_item` (messages, tool calls and their output), `event_msg` (among
them `token_count`, whose `info.total_token_usage` is the thread's running total). The
usage of a stretch of the conversation is the difference of two running totals.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_list, as_str
from clinvk.backends.codex_store import usage_from_codex
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

from clinvk.records import replace

KNOWN_TYPES = ("session_meta", "response_item", "event_msg", "turn_context")
TOOL_CALLS = ("function_call", "custom_tool_call", "local_shell_call", "web_search_call",
              "tool_search_call")
TOOL_OUTPUTS = ("function_call_output", "custom_tool_call_output", "tool_search_output")


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


def read_codex_transcript(files: list[Path], whole: bool = False) -> Transcript:
    """The conversation in these rollouts; `whole` as claude_transcript's."""
    if not files:
        raise TranscriptUnavailable("no codex rollout file")
    reader = _Reader()
    for path in files:
        for line in known_lines(path, "codex", lambda line: line.get("type") in KNOWN_TYPES,
                                whole):
            reader.line(line)
    return reader.transcript
