"""The exact usage of an interactive claude run, the TUI's hidden requests included.

claude 2.1.197's TUI (what npm installs on node 20) asks the API for a title once per
prompt of a new session ("Generate a concise, sentence-case title…"). Those requests are
billed but written to no transcript line, so the transcript alone holds about half of
what a short new session cost. claude keeps the usage of the whole process run itself,
per model (`inputTokens` uncached, `outputTokens`, `cacheReadInputTokens`,
`cacheCreationInputTokens`, `costUSD`), in two places, written when the TUI exits:

- the global config (`~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json`): under
  `projects[<project dir>]`, `lastSessionId` and `lastModelUsage`. On `--resume ID`,
  2.1.197 starts from that `lastModelUsage` when the project's `lastSessionId` is ID (the
  figures then add up over the session's runs), else from zero; a fork starts from zero.
- 2.1.330 only: `{"type": "cost-state", "sessionId", "modelUsage", …}` lines in the
  session's transcript. On `--resume` it starts from the transcript's last cost-state (a
  fork from its parent's), whatever `lastSessionId` says; 2.1.330 made no title request.

(Measured against the stand-in API: tests/test_interactive.py, docs/standin-findings.md.)
So before the run clinvk notes both starting points (`snapshot`), and after it the run's
usage is the cost-state the run wrote minus the one it started from, or else the
`lastModelUsage` written for our session id minus what claude started from. A config
entry whose `lastSessionId` is another session (another claude exited after ours) is
never used. What the run billed beyond the transcript's own figures is added to the run's
last turn (the transcript does not say which turn a title request belonged to).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from clinvk.backends._jsonl import as_dict, as_str, home_dir
from clinvk.backends.claude_store import claude_config_dir, claude_session_files, usage_from_model_usage
from clinvk.backends.usage import Usage

from clinvk.records import replace

SNAPSHOT = "claude-usage-before.json"  # in the run's private scratch folder
_CHECKED = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens", "output_tokens")


def global_config(environ: Mapping[str, str]) -> Path:
    """claude's global config file: `<config dir>/.config.json` when it exists (old
    installs), else `.claude.json` in $CLAUDE_CONFIG_DIR or the home folder."""
    legacy = claude_config_dir(environ) / ".config.json"
    if legacy.is_file():
        return legacy
    base = environ.get("CLAUDE_CONFIG_DIR")
    return (Path(base) if base else home_dir(environ)) / ".claude.json"


def _usage(model_usage: Any) -> Usage | None:
    return usage_from_model_usage(model_usage) if isinstance(model_usage, dict) else None


def project_usage(config: Path) -> dict[str, tuple[str | None, Usage | None]]:
    """Per project folder of the global config: (lastSessionId, lastModelUsage summed)."""
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    out = {}
    for folder, entry in as_dict(as_dict(data).get("projects")).items():
        entry = as_dict(entry)
        out[str(folder)] = (as_str(entry.get("lastSessionId")), _usage(entry.get("lastModelUsage")))
    return out


def last_cost_state(files: list[Path], session_id: str | None) -> Usage | None:
    """The usage of the last `cost-state` line of `session_id` in these transcript files."""
    last = None
    for path in files:
        try:
            with path.open("rb") as fh:
                for raw in fh:
                    if b'"cost-state"' not in raw:
                        continue
                    try:
                        line = as_dict(json.loads(raw))
                    except (ValueError, RecursionError):
                        continue
                    owner = as_str(line.get("sessionId"))
                    if line.get("type") == "cost-state" and (owner is None or owner == session_id):
                        last = _usage(line.get("modelUsage")) or last
        except OSError:
            continue
    return last


def _session_files(session_id: str | None, working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    return claude_session_files(session_id, working_dir, environ) if session_id else []


def _to_json(usage: Usage | None) -> dict[str, int] | None:
    return usage.to_dict() if usage is not None else None


def snapshot(working_dir: str, environ: Mapping[str, str], resume_id: str | None,
             scratch: Path) -> None:
    """Before the run: where claude's figures start (see the module's doc), into `scratch`."""
    config = global_config(environ)
    start = last_cost_state(_session_files(resume_id, working_dir, environ), resume_id)
    state = {
        "config": str(config), "working_dir": working_dir, "resume_id": resume_id,
        "environ": {k: environ[k] for k in ("HOME", "CLAUDE_CONFIG_DIR") if k in environ},
        "cost_state": _to_json(start),
        "projects": {k: [sid, _to_json(u)] for k, (sid, u) in project_usage(config).items()},
    }
    try:
        (scratch / SNAPSHOT).write_text(json.dumps(state), encoding="utf-8")
    except OSError:
        pass


def _from_json(value: Any) -> Usage | None:
    return Usage.from_dict(value) if isinstance(value, dict) else None


def _entry_rank(folder: str, working_dir: str) -> tuple[bool, int]:
    inside = working_dir == folder or working_dir.startswith(folder.rstrip("/") + "/")
    return (not inside, -len(folder))


def _config_usage(state: dict[str, Any], session_id: str) -> Usage | None:
    """The run's usage from the global config: our session's entry as claude wrote it at
    exit, minus what claude started from (that entry before the run, when it was ours)."""
    before = as_dict(state.get("projects"))
    changed = []
    for folder, (sid, usage) in project_usage(Path(state.get("config") or "")).items():
        old = before.get(folder) or [None, None]
        if sid == session_id and usage is not None and [sid, _to_json(usage)] != list(old):
            changed.append((folder, usage))
    if not changed:
        return None
    changed.sort(key=lambda item: _entry_rank(item[0], str(state.get("working_dir") or "")))
    folder, after = changed[0]
    old_sid, old_usage = (before.get(folder) or [None, None])[:2]
    start = _from_json(old_usage) if old_sid == session_id else None
    return after - start if start is not None else after


def run_usage(scratch: Path, session_id: str) -> Usage | None:
    """Everything the run billed, as claude itself counted it; None when unknown."""
    try:
        state = as_dict(json.loads((scratch / SNAPSHOT).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    environ = {str(k): str(v) for k, v in as_dict(state.get("environ")).items()}
    files = _session_files(session_id, str(state.get("working_dir") or "."), environ)
    start = _from_json(state.get("cost_state"))
    end = last_cost_state(files, session_id)
    if end is not None and end != start:
        return end - start if start is not None else end
    return _config_usage(state, session_id)


def exact_turn_usage(turns: list[Any], scratch: Path, session_id: str) -> list[Any] | None:
    """`turns` (TranscriptTurn, the run's new ones) with what the run billed beyond their
    transcript figures added to the last one; None when claude's own count is unknown,
    equal to the transcript's, or smaller (then the transcript's figures stand)."""
    run = run_usage(scratch, session_id)
    if run is None or not turns:
        return None
    recorded = sum((turn.usage for turn in turns), Usage())
    extra = run - recorded
    if extra == Usage() or not run.covers(recorded, _CHECKED):
        return None
    return [*turns[:-1], replace(turns[-1], usage=turns[-1].usage + extra)]
