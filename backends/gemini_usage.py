"""The exact usage of an interactive gemini run: gemini's own local telemetry.

The chat file leaves out the model-router request gemini makes before each turn (and any
other utility request), so its figures are lower than what the API billed. gemini's
OpenTelemetry log does record every request: one `gemini_cli.api_response` event per API
response with the token counts, `session.id`, `prompt_id` (one per typed prompt) and
`role` (`main`, `utility_router`, ...). For an interactive run clinvk therefore turns
gemini's telemetry on for that process only, with target `local` and the outfile in a
private temporary folder that clinvk deletes after reading it, and prompts left out
(GEMINI_TELEMETRY_LOG_PROMPTS=false); gemini then writes the file and connects nowhere
but the API (checked with strace against the stand-in). When the user has gemini's
telemetry enabled themselves (env or settings), clinvk leaves it alone and the figures
come from the chat file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_epoch, as_str
from clinvk.backends.gemini_store import gemini_dir
from clinvk.backends.gemini_transcript import usage_from_tokens
from clinvk.backends.transcript import turn_at
from clinvk.backends.usage import Usage

from clinvk.records import replace

TELEMETRY_FILE = "gemini-telemetry.log"
_COVERED = ("input_tokens", "output_tokens", "cached_input_tokens")  # telemetry >= chat file


def _settings_files(working_dir: str, environ: Mapping[str, str]) -> list[Path]:
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
    """An `api_response` event's token counts, normalised as a chat file's `tokens`."""
    return usage_from_tokens({
        "input": attrs.get("input_token_count"), "tool": attrs.get("tool_token_count"),
        "cached": attrs.get("cached_content_token_count"),
        "output": attrs.get("output_token_count"), "thoughts": attrs.get("thoughts_token_count"),
    })


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
        when = as_epoch(attrs.get("event.timestamp"))
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
    groups = telemetry_usage(path, session_id)
    if not groups or not turns:
        return None
    starts = [as_epoch(turn.time) for turn in turns]
    if any(start is None for start in starts):
        return None
    usage = [Usage() for _ in turns]
    for end, group in groups:
        index = turn_at(starts, end)  # type: ignore[arg-type]
        usage[index] = usage[index] + group
    for turn, exact in zip(turns, usage, strict=True):
        if not exact.covers(turn.usage, _COVERED):
            return None
    return [replace(turn, usage=exact) for turn, exact in zip(turns, usage, strict=True)]
