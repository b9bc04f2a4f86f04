"""claude's own store: `<config dir>/projects/<encoded cwd>/<session id>.jsonl`.

Its paths, the Anthropic usage shape its lines (and the headless output) carry, and moving
a session (`relocate`); its lines are read in claude_transcript. The folder name of a
project is its path with every non-alphanumeric character replaced by '-'; lines carry
`cwd` and `sessionId`. A fork needs no copy: it is claude's own `--resume ID
--fork-session`. (Measured on claude 2.1.330.)

The moving code imports _relocate when it runs: a headless turn needs only the paths.
"""

from __future__ import annotations

import os

from clinvk.backends._files import fresh_files, glob_files
from clinvk.backends._jsonl import as_dict, as_int, home_dir, is_safe_id
from clinvk.backends.base import Relocation, Retention, StoreFile, Usage

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

if TYPE_CHECKING:  # pathlib is not imported before a turn's backend is spawned
    from pathlib import Path

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


# --- paths and finding files ------------------------------------------------------------


def project_dir_name(working_dir: str) -> str:
    """claude's folder name for a project: the path with every non-alphanumeric char -> '-'."""
    import re

    return re.sub(r"[^A-Za-z0-9]", "-", working_dir)


def claude_config_dir(environ: Mapping[str, str]) -> Path:
    from pathlib import Path

    configured = environ.get("CLAUDE_CONFIG_DIR")
    return Path(configured) if configured else home_dir(environ) / ".claude"


CLEANUP_DEFAULT_DAYS = 30  # claude's `cleanupPeriodDays` when no settings file sets it


def claude_retention(environ: Mapping[str, str]) -> Retention:
    """`cleanupPeriodDays` of claude's user settings (`<config dir>/settings.json`), else its
    default: claude deletes transcripts older than that (2.1.330 rejects 0)."""
    import json

    path = claude_config_dir(environ) / "settings.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("cleanupPeriodDays")
    except (OSError, ValueError, AttributeError, RecursionError):
        value = None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return Retention(value, f"cleanupPeriodDays: {value} in {path}")
    return Retention(CLEANUP_DEFAULT_DAYS, f"cleanupPeriodDays (default {CLEANUP_DEFAULT_DAYS}, "
                                           f"not set in {path})")


def projects_dir(environ: Mapping[str, str]) -> Path:
    return claude_config_dir(environ) / "projects"


def claude_session_files(session_id: str, working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    """`<config>/projects/<encoded cwd>/<id>.jsonl`; when the cwd folder is not found
    (symlinked or very long paths are encoded differently) any project folder holding
    a file of that id."""
    if not is_safe_id(session_id):
        return []
    from pathlib import Path

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


def native_claude_files(environ: Mapping[str, str]) -> list[Path]:
    """Every conversation file of claude's store: `projects/<dir>/<session id>.jsonl`. Not
    the sub-agents' transcripts (`projects/<dir>/<id>/subagents/agent-*.jsonl` since 2.1,
    `projects/<dir>/agent-*.jsonl` before), which belong to their parent conversation."""
    from pathlib import Path

    out: list[Path] = []
    for folder in _subfolders(projects_dir(environ)):
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    name = entry.name
                    if (name.endswith(".jsonl") and not name.startswith("agent-")
                            and is_safe_id(name[:-6]) and entry.is_file()):
                        out.append(Path(entry.path))
        except OSError:
            continue
    return out


def _subfolders(folder: Path) -> list[str]:
    try:
        with os.scandir(folder) as entries:
            return [e.path for e in entries if e.is_dir()]
    except OSError:
        return []


# --- moving a session ---------------------------------------------------------------------


def claude_relocate(items: list[Relocation]) -> list[list[StoreFile]]:
    """The adapter's `relocate`: `projects/<dir>/<id>.jsonl` under the new dir and id."""
    from clinvk.backends._relocate import check_rel_path, only_file, rewrite_item

    out = []
    for item in items:
        file = only_file(item, "claude")
        parts = check_rel_path(file.path)
        if len(parts) != 3 or parts[0] != "projects" or parts[2] != f"{item.old_id}.jsonl":
            raise ValueError(f"{file.path!r} is not projects/<dir>/{item.old_id}.jsonl")
        path = f"projects/{project_dir_name(item.new_dir)}/{item.new_id}.jsonl"
        out.append([StoreFile(path, rewrite_item(item, file.content))])
    return out
