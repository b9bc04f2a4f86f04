"""Adapter for Google's Gemini CLI (`gemini -p ... --output-format stream-json`)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.backends._jsonl import (
    JsonLineParser,
    as_dict,
    as_int,
    as_str,
    home_dir,
    is_safe_id,
    read_first_json_line,
)
from clinvk.backends.base import (
    BackendError,
    Done,
    Event,
    SessionStarted,
    TextDelta,
    TurnRequest,
    Usage,
    UsageReport,
    prompt_on_stdin,
)

if TYPE_CHECKING:
    from clinvk.backends.base import Relocation, StoreFile
    from clinvk.backends.transcript import Transcript

# --- usage --------------------------------------------------------------------------


def _stream_entry_usage(entry: dict[str, Any]) -> Usage:
    prompt = as_int(entry.get("input_tokens"))
    candidates = as_int(entry.get("output_tokens"))
    thoughts = max(0, as_int(entry.get("total_tokens")) - prompt - candidates)
    return Usage(
        input_tokens=prompt,
        cached_input_tokens=as_int(entry.get("cached")),
        output_tokens=candidates + thoughts,
        reasoning_tokens=thoughts,
    )


def usage_from_stream_stats(stats: Any) -> Usage:
    """Usage from a stream-json `result.stats`: `output_tokens` there counts candidates only;
    thoughts = total - input - output. The top-level figures cover the whole invocation,
    model-router call included (measured against the stand-in API); without them, the
    per-model entries are summed."""
    stats = as_dict(stats)
    if "total_tokens" in stats and "input_tokens" in stats:
        return _stream_entry_usage(stats)
    models = [as_dict(m) for m in as_dict(stats.get("models")).values() if isinstance(m, dict)]
    if models:
        total = Usage()
        for entry in models:
            total += _stream_entry_usage(entry)
        return total
    return _stream_entry_usage(stats)


def usage_from_json_stats(stats: Any) -> Usage:
    """Usage from the `-o json` output's `stats`: sum of `stats.models.<m>.tokens`
    (`prompt` = all prompt tokens incl. `cached`; `candidates`; `thoughts`)."""
    total = Usage()
    for entry in as_dict(as_dict(stats).get("models")).values():
        tokens = as_dict(as_dict(entry).get("tokens"))
        cached = as_int(tokens.get("cached"))
        if "prompt" in tokens:
            prompt = as_int(tokens.get("prompt"))
        else:
            prompt = as_int(tokens.get("input")) + cached
        thoughts = as_int(tokens.get("thoughts"))
        total += Usage(
            input_tokens=prompt,
            cached_input_tokens=cached,
            output_tokens=as_int(tokens.get("candidates")) + thoughts,
            reasoning_tokens=thoughts,
        )
    return total


def reported_model(stats: Any, default: str | None) -> str | None:
    """The model that did most of the work according to `stats.models`, else `default`."""
    best, best_tokens = default, -1
    for name, entry in as_dict(as_dict(stats).get("models")).items():
        entry = as_dict(entry)
        tokens = as_int(entry.get("total_tokens")) or as_int(as_dict(entry.get("tokens")).get("total"))
        if tokens > best_tokens:
            best, best_tokens = name, tokens
    return best


def _error_message(error: Any, default: str) -> str:
    error = as_dict(error)
    return as_str(error.get("message")) or as_str(error.get("type")) or default


# --- parser -------------------------------------------------------------------------


class GeminiParser(JsonLineParser):
    """Parses `gemini --output-format stream-json` (init, message, tool_use, tool_result,
    error, result)."""

    name = "gemini"

    def __init__(self) -> None:
        super().__init__()
        self.model: str | None = None
        self.parts: list[str] = []

    def handle(self, obj: dict[str, Any]) -> list[Event]:
        kind = obj.get("type")
        events = self._started(obj.get("session_id"), obj.get("model"))
        if kind == "message":
            text = as_str(obj.get("content"))
            if obj.get("role") == "assistant" and text:
                self.parts.append(text)
                events.append(TextDelta(text))
        elif kind == "result":
            events += self._result(obj)
        elif isinstance(obj.get("error"), dict):  # `{"session_id", "error": {...}}`
            events.append(BackendError(_error_message(obj["error"], "gemini failed")))
        elif kind == "error":
            message = as_str(obj.get("message")) or "gemini reported an error"
            events.append(BackendError(message, fatal=obj.get("severity") == "error"))
        return events

    def _started(self, session_id: Any, model: Any) -> list[Event]:
        session_id = as_str(session_id)
        if not session_id or session_id == self.session_id:
            return []
        self.session_id = session_id
        self.model = as_str(model) or self.model
        return [SessionStarted(session_id, self.model)]

    def _result(self, obj: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        if isinstance(obj.get("stats"), dict):
            stats = obj["stats"]
            model = reported_model(stats, self.model)
            events.append(UsageReport(usage_from_stream_stats(stats), None, model))
        status = obj.get("status")
        if status != "success":
            default = as_str(obj.get("message")) or f"gemini turn ended with status {status}"
            events += [BackendError(_error_message(obj.get("error"), default)), Done(None)]
            return events
        events.append(Done("".join(self.parts) if self.parts else None))
        return events


# --- adapter ------------------------------------------------------------------------


def gemini_dir(environ: Mapping[str, str]) -> Path:
    """`~/.gemini`; gemini honours GEMINI_CLI_HOME in place of the home directory."""
    configured = environ.get("GEMINI_CLI_HOME")
    return (Path(configured) if configured else home_dir(environ)) / ".gemini"


def _own_project_folders(base: Path, working_dir: str) -> list[Path]:
    """The `tmp/<project>` folders of a working dir: the slug from `projects.json`, then the
    legacy sha256 hash of the path."""
    tmp = base / "tmp"
    normalized = os.path.abspath(working_dir)
    own: list[Path] = []
    try:
        registry = json.loads((base / "projects.json").read_text(encoding="utf-8"))
        slug = as_str(as_dict(as_dict(registry).get("projects")).get(normalized))
        if slug and is_safe_id(slug):
            own.append(tmp / slug)
    except (OSError, ValueError, RecursionError):
        pass
    own.append(tmp / hashlib.sha256(normalized.encode()).hexdigest())
    return own


def _project_folders(base: Path, working_dir: str) -> list[Path]:
    """Candidate `tmp/<project>` folders for a working dir: its own, then every other one."""
    preferred = _own_project_folders(base, working_dir)
    try:
        others = sorted(p for p in (base / "tmp").iterdir() if p.is_dir() and p not in preferred)
    except OSError:
        others = []
    return preferred + others


def chat_files(session_id: str, working_dir: str, environ: Mapping[str, str]) -> list[Path]:
    """`~/.gemini/tmp/<project>/chats/session-<time>-<id8>.jsonl` whose first line names the
    session; files of the working dir's own project folder first."""
    if not is_safe_id(session_id) or len(session_id) < 8:
        return []
    found: list[Path] = []
    for folder in _project_folders(gemini_dir(environ), working_dir):
        try:
            candidates = sorted((folder / "chats").glob(f"session-*-{session_id[:8]}.jsonl"))
        except OSError:
            continue
        for path in candidates:
            if path.is_file() and read_first_json_line(path).get("sessionId") == session_id:
                found.append(path)
        if found:
            break
    return found


class GeminiAdapter:
    name = "gemini"
    default_command = "gemini"
    install_hint = "npm install -g @google/gemini-cli"
    reports_running_totals = False

    def build_argv(self, request: TurnRequest) -> list[str]:
        """A prompt starting with "-" is passed as `--prompt=...` so it is never a flag; a long
        one goes on stdin, without `-p` (gemini then runs headless on what stdin holds)."""
        if request.long_prompt:
            argv = [request.command]
        elif request.prompt.startswith("-"):
            argv = [request.command, f"--prompt={request.prompt}"]
        else:
            argv = [request.command, "-p", request.prompt]
        argv += ["--output-format", "stream-json"]
        if request.resume_id:
            argv += ["--resume", request.resume_id]
        if request.model:
            argv += ["-m", request.model]
        return [*argv, *request.extra_flags, *request.passthrough]

    def stdin_input(self, request: TurnRequest) -> bytes | None:
        return prompt_on_stdin(request)

    def new_parser(self, baseline: Usage | None = None) -> GeminiParser:
        return GeminiParser()

    def usage_baseline(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> Usage | None:
        return None

    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        return chat_files(backend_session_id, working_dir, environ)

    def version_argv(self, command: str) -> list[str]:
        return [command, "--version"]

    # --- interactive sessions and transcripts (see gemini_store) --------------------------

    # `gemini --session-id UUID` starts a new session with clinvk's id (checked on the TUI of
    # 0.61.0); when a gemini ignores it, the chat file it created is found instead.
    assigns_session_id = True

    def build_interactive_argv(self, request: TurnRequest, new_session_id: str | None) -> list[str]:
        argv = [request.command]
        if request.resume_id:
            argv += ["--resume", request.resume_id]
        elif new_session_id:
            argv += ["--session-id", new_session_id]
        if request.model:
            argv += ["-m", request.model]
        if request.prompt and not request.resume_id:
            argv.append(f"--prompt-interactive={request.prompt}")
        return [*argv, *request.extra_flags, *request.passthrough]

    def list_session_files(self, working_dir: str, environ: Mapping[str, str]) -> set[Path]:
        from clinvk.backends.gemini_store import list_chat_files

        return list_chat_files(environ)

    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        from clinvk.backends.gemini_store import find_new_chat

        return find_new_chat(working_dir, started_at, environ, before)

    def read_transcript(self, files: list[Path]) -> Transcript:
        from clinvk.backends.gemini_store import read_gemini_transcript

        return read_gemini_transcript(files)

    def tidy_store(self, working_dir: str, environ: Mapping[str, str]) -> None:
        """Before and after every run: remove the resume stubs that make gemini's own
        clean-up delete whole sessions (see gemini_stubs)."""
        from clinvk.backends.gemini_stubs import remove_stubs

        for folder in _own_project_folders(gemini_dir(environ), working_dir):
            remove_stubs(folder / "chats")

    def interactive_env(self, working_dir: str, environ: Mapping[str, str],
                        scratch: Path) -> dict[str, str]:
        """Extra variables for an interactive run: gemini's local telemetry into `scratch`
        (the chat file misses the model-router requests; see gemini_store)."""
        from clinvk.backends.gemini_store import telemetry_env

        return telemetry_env(working_dir, environ, scratch)

    def interactive_turn_usage(self, turns: list, scratch: Path, session_id: str) -> list | None:
        """The run's new turns with the usage gemini's telemetry recorded, or None."""
        from clinvk.backends.gemini_store import TELEMETRY_FILE, exact_turn_usage

        return exact_turn_usage(turns, scratch / TELEMETRY_FILE, session_id)

    # --- moving and forking sessions (see moves) ------------------------------------------

    def store_root(self, environ: Mapping[str, str]) -> Path:
        return gemini_dir(environ)

    def new_session_id(self) -> str:
        import uuid

        return str(uuid.uuid4())

    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        from clinvk.backends.moves import gemini_relocate

        return gemini_relocate(items, environ)

    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        from clinvk.backends.moves import gemini_prepare_fork

        return gemini_prepare_fork(backend_session_id, working_dir, environ)


ADAPTER = GeminiAdapter()
