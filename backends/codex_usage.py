"""The exact usage of an interactive codex run, the TUI's hidden requests included.

codex 0.169's TUI makes API requests of its own that no store of codex records: after
the first prompt, a separate ephemeral thread asks the model for "a concise, single-line
task title" (tui/src/app/thread_title.rs). Its tokens are billed, but it has no rollout
file, no row in state_5.sqlite or thread_history_1.sqlite, and logs_2.sqlite keeps only
a `total_usage_tokens` figure for it (and nothing at all without the shared daemon).
What does carry every API response's usage, with the id of the thread that asked, is
codex's own tracing event `codex.sse_event` / `event.kind=response.completed` (target
`codex_otel.log_only`, fields `input_token_count`, `cached_token_count`,
`cache_write_token_count`, `output_token_count`, `reasoning_token_count`,
`conversation.id`). An interactive run therefore gets, for that run only:

- `--no-daemon` (see `with_no_daemon`): the app server runs inside this codex process
  instead of a shared background server started earlier with another environment, so
  the two settings below reach it; it also ends with the TUI, so the session is complete
  when clinvk reads it, and no ~360 MB daemon copy is installed under $CODEX_HOME;
- `-c log_dir="<scratch>/codex-log"`: the log file goes to clinvk's private scratch folder;
- `RUST_LOG=codex_otel.log_only=info` (after the user's own directives, if any): the
  event is written to it, prompts redacted by codex;
- `-c shell_environment_policy.set.RUST_LOG=<the user's own>` when the user has one, so
  that the commands the agent runs see the user's value, not ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_epoch, as_int
from clinvk.backends.transcript import turn_at
from clinvk.backends.usage import Usage

from clinvk.records import replace

LOG_DIR = "codex-log"  # under the run's scratch folder
USAGE_DIRECTIVE = "codex_otel.log_only=info"
NO_DAEMON = "--no-daemon"
RESPONSE_EVENTS = ("codex.sse_event", "codex.websocket_event")  # HTTP SSE or websocket transport

_LINE = re.compile(r"^(\S+)\s+INFO\s+codex_otel\.log_only:\s(.*)$")
_FIELD = re.compile(r'([\w.]+)=("(?:[^"\\]|\\.)*"|\S*)')
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _remote(argv: list[str]) -> bool:
    """A TUI attached to another app server (`--remote`): its requests are not ours to log."""
    return any(arg == "--remote" or arg.startswith("--remote=") for arg in argv)


def insert_options(argv: list[str], options: list[str]) -> list[str]:
    """`options` placed before the first `--` (codex resume's `-- THREAD_ID`), or last."""
    cut = argv.index("--", 1) if "--" in argv[1:] else len(argv)
    return [*argv[:cut], *options, *argv[cut:]]


def with_no_daemon(argv: list[str]) -> list[str]:
    """The interactive argv with `--no-daemon`, unless it is there or `--remote` is used."""
    if NO_DAEMON in argv or _remote(argv):
        return argv
    return insert_options(argv, [NO_DAEMON])


def interactive_env(environ: Mapping[str, str]) -> dict[str, str]:
    """RUST_LOG with codex's usage event added to the user's own directives."""
    own = (environ.get("RUST_LOG") or "").strip().strip(",")
    return {"RUST_LOG": f"{own},{USAGE_DIRECTIVE}" if own else USAGE_DIRECTIVE}


def interactive_argv(argv: list[str], environ: Mapping[str, str], scratch: Path) -> list[str]:
    """The argv with codex's log file sent to `scratch` (and the user's own RUST_LOG kept
    for the commands the agent runs)."""
    if _remote(argv):
        return argv
    options = ["-c", f"log_dir={json.dumps(str(scratch / LOG_DIR))}"]
    own = environ.get("RUST_LOG")
    if own:
        options += ["-c", f"shell_environment_policy.set.RUST_LOG={json.dumps(own)}"]
    return insert_options(argv, options)


# --- reading the log --------------------------------------------------------------------


def _fields(text: str) -> dict[str, str]:
    """The `key=value` fields of a log line; the first of a key counts (a prompt logged
    with `otel.log_user_prompt` comes later in its line and cannot pass for a field)."""
    out: dict[str, str] = {}
    for key, value in _FIELD.findall(text):
        if key in out:
            continue
        if value.startswith('"'):
            try:
                value = json.loads(value)
            except ValueError:
                value = value[1:-1]
        out[key] = value
    return out


def _usage(fields: dict[str, str]) -> Usage | None:
    """The usage of a `response.completed` event, None for any other event."""
    if (fields.get("event.name") not in RESPONSE_EVENTS
            or fields.get("event.kind") != "response.completed"
            or "input_token_count" not in fields):
        return None
    return Usage(
        input_tokens=as_int(_int(fields.get("input_token_count"))),
        cached_input_tokens=as_int(_int(fields.get("cached_token_count"))),
        cache_creation_input_tokens=as_int(_int(fields.get("cache_write_token_count"))),
        output_tokens=as_int(_int(fields.get("output_token_count"))),
        reasoning_tokens=as_int(_int(fields.get("reasoning_token_count"))),
    )


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def log_events(log_dir: Path) -> list[tuple[float, str | None, Usage | None]]:
    """Every `codex_otel.log_only` event of the run's log files, in order: (time, thread
    id, usage of an API response or None)."""
    try:
        files = sorted(log_dir.glob("codex-tui*.log"))
    except OSError:
        return []
    events = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            match = _LINE.match(_ANSI.sub("", line))
            when = as_epoch(match.group(1)) if match else None
            if match is None or when is None:
                continue
            fields = _fields(match.group(2))
            events.append((when, fields.get("conversation.id") or None, _usage(fields)))
    return sorted(events, key=lambda event: event[0])


# --- attributing it to the turns ----------------------------------------------------------


def exact_turn_usage(turns: list[Any], scratch: Path, session_id: str) -> list[Any] | None:
    """`turns` (TranscriptTurn, the run's new ones, usage from the rollout) with the usage
    of every API response the run's log records: the session thread's own responses as
    the rollout splits them, plus each other thread's (the title thread, helper agents)
    on the turn in progress when that thread started. None when the log has no usage
    (then the rollout's figures stand)."""
    events = log_events(scratch / LOG_DIR)
    starts = [as_epoch(turn.time) for turn in turns]
    if not turns or not any(usage for _, _, usage in events) or None in starts:
        return None
    first_seen: dict[str | None, float] = {}
    own = Usage()
    extra = [Usage() for _ in turns]
    for when, thread, usage in events:
        first_seen.setdefault(thread, when)
        if usage is None:
            continue
        if thread == session_id:
            own = own + usage
        else:
            index = turn_at(starts, first_seen[thread])  # type: ignore[arg-type]
            extra[index] = extra[index] + usage
    exact = [turn.usage + more for turn, more in zip(turns, extra, strict=True)]
    recorded = sum((turn.usage for turn in turns), Usage())
    if own != recorded and own.covers(recorded):
        exact[-1] = exact[-1] + (own - recorded)  # billed, yet not in the rollout (cut short)
    return [replace(turn, usage=usage) for turn, usage in zip(turns, exact, strict=True)]
