"""Adapter for OpenAI's Codex CLI (`codex exec --json ...`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.backends._jsonl import (
    JsonLineParser,
    as_dict,
    as_int,
    as_str,
    clean_line,
    decode_line,
    home_dir,
    is_safe_id,
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

MESSAGE_SEPARATOR = "\n\n"  # between two agent messages of one turn


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


class CodexParser(JsonLineParser):
    """Parses `codex exec --json`. Its `turn.completed.usage` holds the thread's running
    totals; the turn's own usage is those totals minus `baseline` (the totals before)."""

    name = "codex"

    def __init__(self, baseline: Usage | None = None) -> None:
        super().__init__()
        self.baseline = baseline if isinstance(baseline, Usage) else Usage()
        self.messages: list[str] = []

    def handle(self, obj: dict[str, Any]) -> list[Event]:
        kind = obj.get("type")
        if kind == "thread.started":
            thread_id = as_str(obj.get("thread_id"))
            if thread_id and thread_id != self.session_id:
                self.session_id = thread_id
                return [SessionStarted(thread_id, None)]
            return []
        if kind == "item.completed":
            return self._item(as_dict(obj.get("item")))
        if kind == "error":  # "Reconnecting... n/5" and the like: the turn may still succeed
            message = as_str(obj.get("message")) or "codex reported an error"
            return [BackendError(message, fatal=False)]
        if kind == "turn.completed":
            usage = usage_from_codex(obj.get("usage")) - self.baseline
            text = MESSAGE_SEPARATOR.join(self.messages) if self.messages else None
            return [UsageReport(usage, None, None), Done(text)]
        if kind == "turn.failed":
            message = as_str(as_dict(obj.get("error")).get("message")) or "codex turn failed"
            return [BackendError(message, fatal=True), Done(None)]
        return []

    def _item(self, item: dict[str, Any]) -> list[Event]:
        kind = item.get("type")
        if kind == "agent_message":
            text = as_str(item.get("text"))
            if not text:
                return []
            separator = MESSAGE_SEPARATOR if self.messages else ""
            self.messages.append(text)
            return [TextDelta(separator + text)]
        if kind == "error":  # e.g. "Model metadata for `x` not found": a warning
            message = as_str(item.get("message")) or "codex reported an error"
            return [BackendError(message, fatal=False)]
        return []


# --- the rollout files ----------------------------------------------------------------


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


class CodexAdapter:
    name = "codex"
    default_command = "codex"
    install_hint = "npm install -g @openai/codex"
    reports_running_totals = True  # turn.completed carries the thread's running totals

    def build_argv(self, request: TurnRequest) -> list[str]:
        """All options go before `resume` (so they are exec's options, valid for both forms);
        the prompt comes after `--` so that "-x" or "resume"/"review" stay a prompt."""
        argv = [request.command, "exec", "--json", "--skip-git-repo-check"]
        if request.model:
            argv += ["-m", request.model]
        argv += [*request.extra_flags, *request.passthrough]
        if request.resume_id:
            argv += ["resume", request.resume_id]
        if request.long_prompt:  # `codex exec [resume ID] -` reads the prompt from stdin
            return [*argv, "-"]
        return [*argv, "--", request.prompt]

    def stdin_input(self, request: TurnRequest) -> bytes | None:
        return prompt_on_stdin(request)

    def new_parser(self, baseline: Usage | None = None) -> CodexParser:
        return CodexParser(baseline)

    def usage_baseline(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> Usage | None:
        files = rollout_files(backend_session_id, environ)
        for rollout in reversed(files):
            usage = last_total_usage(rollout)
            if usage is not None:
                return usage
        return None

    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        return rollout_files(backend_session_id, environ)

    def version_argv(self, command: str) -> list[str]:
        return [command, "--version"]

    # --- interactive sessions and transcripts (see codex_store) ---------------------------

    assigns_session_id = False  # the new thread's id is read from the rollout it creates

    def build_interactive_argv(self, request: TurnRequest, new_session_id: str | None) -> list[str]:
        """`codex [OPTIONS] --no-daemon` or `codex resume [OPTIONS] --no-daemon -- THREAD_ID`
        (no shared background server: see codex_usage)."""
        from clinvk.backends.codex_usage import with_no_daemon

        argv = [request.command]
        if request.resume_id:
            argv.append("resume")
        if request.model:
            argv += ["-m", request.model]
        argv = with_no_daemon([*argv, *request.extra_flags, *request.passthrough])
        if request.resume_id:
            argv += ["--", request.resume_id]
        elif request.prompt:
            argv += ["--", request.prompt]
        return argv

    def interactive_env(self, working_dir: str, environ: Mapping[str, str],
                        scratch: Path) -> dict[str, str]:
        """RUST_LOG that makes codex log each API response's usage (see codex_usage)."""
        from clinvk.backends.codex_usage import interactive_env

        return interactive_env(environ)

    def interactive_argv(self, argv: list[str], environ: Mapping[str, str],
                         scratch: Path) -> list[str]:
        """The run's argv with codex's log file sent to `scratch` (see codex_usage)."""
        from clinvk.backends.codex_usage import interactive_argv

        return interactive_argv(argv, environ, scratch)

    def interactive_turn_usage(self, turns: list, scratch: Path, session_id: str) -> list | None:
        """The run's new turns with every billed request, the TUI's title request included."""
        from clinvk.backends.codex_usage import exact_turn_usage

        return exact_turn_usage(turns, scratch, session_id)

    def list_session_files(self, working_dir: str, environ: Mapping[str, str]) -> set[Path]:
        from clinvk.backends.codex_store import list_rollouts

        return list_rollouts(environ)

    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        from clinvk.backends.codex_store import find_new_rollout

        return find_new_rollout(working_dir, started_at, environ, before)

    def read_transcript(self, files: list[Path]) -> Transcript:
        from clinvk.backends.codex_store import read_codex_transcript

        return read_codex_transcript(files)

    # --- moving and forking sessions (see moves) ------------------------------------------

    def store_root(self, environ: Mapping[str, str]) -> Path:
        return codex_home(environ)

    def new_session_id(self) -> str:
        from clinvk.backends.moves import uuid7

        return uuid7()

    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        from clinvk.backends.moves import codex_relocate

        return codex_relocate(items)

    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        from clinvk.backends.moves import codex_prepare_fork

        return codex_prepare_fork(backend_session_id, environ)  # resumed as a thread of its own


ADAPTER = CodexAdapter()
