"""The one transcript shape every backend's store reader produces.

A backend keeps its own record of a conversation (claude's project JSONL, codex's
rollout, gemini's chat file). Its adapter reads that into a `Transcript`: a list of
`Message` (role, text, time, tool calls in brief) plus the session's total token usage
as that store records it, in SPEC's normalised shape. Nothing here knows the store of
clinvk or Click.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from clinvk.backends.usage import Usage

from clinvk.records import Record, factory, replace

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

ROLES = ("user", "assistant", "tool")
BRIEF_MAX = 120  # characters of a tool call's arguments or a tool result shown


class TranscriptUnavailable(Exception):
    """The backend's transcript is gone or unreadable, or in a shape we do not know."""


class ToolCall(Record, frozen=True):
    """A tool the assistant called, in brief: its name and a one-line summary of its input."""

    name: str
    brief: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "brief": self.brief}


class Message(Record, frozen=True):
    """One entry of a conversation.

    `role` is "user" (a prompt typed by the user), "assistant" (the model's reply and the
    tools it called) or "tool" (a tool's result sent back to the model). `time` is the
    store's own timestamp (RFC 3339) or None. `usage` is what the API calls that produced
    this message billed (assistant messages; None when the store does not say).
    """

    role: str
    text: str
    time: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role, "text": self.text, "time": self.time}
        out["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        if self.usage is not None:
            out["usage"] = self.usage.to_dict()
        if self.model:
            out["model"] = self.model
        return out


class Transcript(Record):
    """A conversation read from a backend's store."""

    backend: str
    session_id: str | None = None
    working_dir: str | None = None
    model: str | None = None
    messages: list[Message] = factory(list)
    total_usage: Usage = factory(Usage)  # over the whole session, as stored

    def prompts(self) -> list[Message]:
        return [m for m in self.messages if m.role == "user"]


class TranscriptTurn(Record, frozen=True):
    """A user prompt and everything up to the next one, with the usage billed for it."""

    prompt: str
    time: str | None
    end_time: str | None
    usage: Usage
    model: str | None


def split_turns(messages: list[Message]) -> list[TranscriptTurn]:
    """Group messages into turns, one per user prompt; usage reported before the first
    prompt (none in practice) is counted in the first turn."""
    turns: list[TranscriptTurn] = []
    pending = Usage()
    for message in messages:
        if message.role == "user":
            turns.append(TranscriptTurn(message.text, message.time, message.time, pending, None))
            pending = Usage()
            continue
        if not turns:
            if message.usage is not None:
                pending = pending + message.usage
            continue
        last = turns[-1]
        usage = last.usage + message.usage if message.usage is not None else last.usage
        turns[-1] = replace(last, usage=usage, end_time=message.time or last.end_time,
                            model=message.model or last.model)
    return turns


def turn_at(starts: list[float], when: float) -> int:
    """The turn in progress at `when`, given the turns' start times in order: the last one
    started at or before it (else the first)."""
    index = 0
    for n, start in enumerate(starts):
        if start <= when:
            index = n
    return index


def brief(value: Any, limit: int = BRIEF_MAX) -> str:
    """A one-line summary of a tool's input or output."""
    if isinstance(value, dict) and value:
        parts = []
        for key, item in value.items():
            text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            parts.append(f"{key}={text}")
        text = ", ".join(parts)
    elif isinstance(value, str):
        text = value
    elif value is None or value == {} or value == []:
        text = ""
    else:
        text = json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_context_block(text: str) -> bool:
    """True for text the CLI itself put in a user message rather than the user typing it:
    a message made of tags such as `<environment_context>`, `<session_context>`,
    `<command-name>`, `<local-command-stdout>` (tag names with `_` or `-`)."""
    stripped = text.strip()
    match = _CONTEXT_TAG.match(stripped)
    return bool(match) and stripped.endswith(">") and ("_" in match[1] or "-" in match[1])


_CONTEXT_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9_-]*)[^>]*>")


# --- reading store files ---------------------------------------------------------------

MAX_FILE_BYTES = 512 << 20  # a store file larger than this is not read


def read_json_lines(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The JSON objects of a JSONL store file and how many non-empty lines were not JSON
    objects. Raises TranscriptUnavailable when the file is missing or unreadable."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise TranscriptUnavailable(f"{path} is too large to read")
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            lines = fh.readlines()
    except FileNotFoundError:
        raise TranscriptUnavailable(f"{path} no longer exists") from None
    except OSError as exc:
        raise TranscriptUnavailable(f"cannot read {path}: {exc.strerror or exc}") from None
    objects: list[dict[str, Any]] = []
    bad = 0
    for line in lines:
        line = line.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict):
            objects.append(value)
        else:
            bad += 1
    return objects, bad


def known_lines(path: Path, backend: str, is_known: Callable[[dict[str, Any]], bool],
                whole: bool = False) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL store file. Raises TranscriptUnavailable when it is
    unreadable, or holds lines but none that is JSON or none of a kind the backend writes,
    or (with `whole`, for adopting it) any line that is not a JSON object."""
    lines, bad = read_json_lines(path)
    if (bad and not lines) or (lines and not any(is_known(line) for line in lines)):
        raise unknown_shape(backend, path)
    if whole and bad:
        raise not_whole(path, bad)
    return lines


def not_whole(path: Path, bad: int) -> TranscriptUnavailable:
    """A store file with lines that are not JSON objects: damaged, or still being written."""
    return TranscriptUnavailable(f"{path} has {bad} line(s) that are not JSON "
                                 "(damaged, or still being written)")


def unknown_shape(backend: str, path: Path) -> TranscriptUnavailable:
    return TranscriptUnavailable(
        f"{path} is not in a {backend} transcript shape this clinvk knows "
        "(written by a newer version of the CLI?)"
    )
