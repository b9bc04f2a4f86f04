"""Adapter for OpenAI's Codex CLI (`codex exec --json ...`)."""

from __future__ import annotations

from clinvk.backends import codex_store
from clinvk.backends._jsonl import JsonLineParser, as_dict, as_str
from clinvk.backends.base import Adapter, BackendError, Done, TextDelta, Usage, UsageReport
from clinvk.backends.codex_store import usage_from_codex

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from clinvk.backends.base import Event, Relocation, StoreFile, TurnRequest
    from clinvk.backends.transcript import Transcript, TranscriptTurn

MESSAGE_SEPARATOR = "\n\n"  # between two agent messages of one turn


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
            return self.started(obj.get("thread_id"))
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


class CodexAdapter(Adapter):
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

    def new_parser(self, baseline: Usage | None = None) -> CodexParser:
        return CodexParser(baseline)

    def usage_baseline(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> Usage | None:
        return codex_store.running_total(backend_session_id, environ)

    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        return codex_store.rollout_files(backend_session_id, environ)

    # --- interactive sessions and transcripts (codex_transcript, codex_usage) --------------

    assigns_session_id = False  # the new thread's id is read from the rollout it creates

    def build_interactive_argv(self, request: TurnRequest, new_session_id: str | None) -> list[str]:
        """`codex [OPTIONS] --no-daemon` or `codex resume [OPTIONS] --no-daemon -- THREAD_ID`
        (no shared background server: see codex_usage)."""
        from clinvk.backends import codex_usage

        argv = [request.command]
        if request.resume_id:
            argv.append("resume")
        if request.model:
            argv += ["-m", request.model]
        argv = codex_usage.with_no_daemon([*argv, *request.extra_flags, *request.passthrough])
        if request.resume_id:
            argv += ["--", request.resume_id]
        elif request.prompt:
            argv += ["--", request.prompt]
        return argv

    def interactive_env(self, working_dir: str, environ: Mapping[str, str],
                        scratch: Path) -> dict[str, str]:
        """RUST_LOG that makes codex log each API response's usage (see codex_usage)."""
        from clinvk.backends import codex_usage

        return codex_usage.interactive_env(environ)

    def interactive_argv(self, argv: list[str], environ: Mapping[str, str],
                         scratch: Path) -> list[str]:
        """The run's argv with codex's log file sent to `scratch` (see codex_usage)."""
        from clinvk.backends import codex_usage

        return codex_usage.interactive_argv(argv, environ, scratch)

    def interactive_turn_usage(self, turns: list[TranscriptTurn], scratch: Path,
                               session_id: str) -> list[TranscriptTurn] | None:
        """The run's new turns with every billed request, the TUI's title request included."""
        from clinvk.backends import codex_usage

        return codex_usage.exact_turn_usage(turns, scratch, session_id)

    def list_session_files(self, working_dir: str, environ: Mapping[str, str]) -> set[Path]:
        return codex_store.list_rollouts(environ)

    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        return codex_store.find_new_rollout(working_dir, started_at, environ, before)

    def read_transcript(self, files: list[Path]) -> Transcript:
        from clinvk.backends import codex_transcript

        return codex_transcript.read_codex_transcript(files)

    # --- adopting codex's own conversations ------------------------------------------------

    def native_files(self, environ: Mapping[str, str]) -> list[Path]:
        return codex_store.native_rollouts(environ)

    def native_transcript(self, path: Path, environ: Mapping[str, str]) -> Transcript:
        """A sub-agent's rollout reads as an empty conversation (nothing to adopt)."""
        from clinvk.backends import codex_transcript

        if codex_store.is_subagent_rollout(path):
            from clinvk.backends.transcript import Transcript as Empty

            return Empty("codex")
        return codex_transcript.read_codex_transcript([path], whole=True)

    # --- moving and forking sessions (see codex_store) ------------------------------------

    def store_root(self, environ: Mapping[str, str]) -> Path:
        return codex_store.codex_home(environ)

    def new_session_id(self) -> str:
        return codex_store.uuid7()

    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        return codex_store.codex_relocate(items)

    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        return codex_store.codex_prepare_fork(backend_session_id, environ)  # a thread of its own


ADAPTER = CodexAdapter()
