"""Adapter for Google's Gemini CLI (`gemini -p ... --output-format stream-json`)."""

from __future__ import annotations

from clinvk.backends import gemini_store
from clinvk.backends._jsonl import JsonLineParser, as_dict, as_int, as_str
from clinvk.backends.base import Adapter, BackendError, Done, TextDelta, Usage, UsageReport

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from clinvk.backends.base import Event, Relocation, Retention, StoreFile, TurnRequest
    from clinvk.backends.transcript import Transcript, TranscriptTurn

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
        self.parts: list[str] = []

    def handle(self, obj: dict[str, Any]) -> list[Event]:
        kind = obj.get("type")
        events = self.started(obj.get("session_id"), obj.get("model"))
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


class GeminiAdapter(Adapter):
    name = "gemini"
    default_command = "gemini"
    install_hint = "npm install -g @google/gemini-cli"

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

    def new_parser(self, baseline: Usage | None = None) -> GeminiParser:
        return GeminiParser()

    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        return gemini_store.chat_files(backend_session_id, working_dir, environ)

    def tidy_store(self, working_dir: str, environ: Mapping[str, str]) -> None:
        """Before and after every run: remove the resume stubs that make gemini's own
        clean-up delete whole sessions (see gemini_stubs)."""
        from clinvk.backends.gemini_stubs import remove_stubs, stubs_possible

        if not stubs_possible(gemini_store.gemini_dir_text(environ)):
            return  # the common case, told from file names alone (before every turn's spawn)
        for folder in gemini_store.own_project_folders(gemini_store.gemini_dir(environ), working_dir):
            remove_stubs(folder / "chats")

    # --- interactive sessions and transcripts (gemini_transcript, gemini_usage) ------------

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
        return gemini_store.list_chat_files(environ)

    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        return gemini_store.find_new_chat(working_dir, started_at, environ, before)

    def read_transcript(self, files: list[Path]) -> Transcript:
        from clinvk.backends import gemini_transcript

        return gemini_transcript.read_gemini_transcript(files)

    def interactive_env(self, working_dir: str, environ: Mapping[str, str],
                        scratch: Path) -> dict[str, str]:
        """Extra variables for an interactive run: gemini's local telemetry into `scratch`
        (the chat file misses the model-router requests; see gemini_usage)."""
        from clinvk.backends import gemini_usage

        return gemini_usage.telemetry_env(working_dir, environ, scratch)

    def interactive_turn_usage(self, turns: list[TranscriptTurn], scratch: Path,
                               session_id: str) -> list[TranscriptTurn] | None:
        """The run's new turns with the usage gemini's telemetry recorded, or None."""
        from clinvk.backends import gemini_usage

        return gemini_usage.exact_turn_usage(turns, scratch / gemini_usage.TELEMETRY_FILE, session_id)

    # --- adopting gemini's own conversations -----------------------------------------------

    def native_files(self, environ: Mapping[str, str]) -> list[Path]:
        return gemini_store.native_chat_files(environ)

    def native_transcript(self, path: Path, environ: Mapping[str, str]) -> Transcript:
        """With the working directory of the chat's project folder; a sub-agent's chat
        (`kind` not "main") reads as an empty conversation (nothing to adopt)."""
        from clinvk.backends import gemini_transcript
        from clinvk.backends._jsonl import read_first_json_line

        if read_first_json_line(path).get("kind", "main") != "main":
            from clinvk.backends.transcript import Transcript as Empty

            return Empty("gemini")
        transcript = gemini_transcript.read_gemini_transcript([path], whole=True)
        transcript.working_dir = gemini_store.chat_working_dir(path, environ)
        return transcript

    # --- moving and forking sessions (see gemini_store) -----------------------------------

    def store_root(self, environ: Mapping[str, str]) -> Path:
        return gemini_store.gemini_dir(environ)

    def own_retention(self, environ: Mapping[str, str]) -> Retention | None:
        return gemini_store.gemini_retention(environ)

    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        return gemini_store.gemini_relocate(items, environ)

    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        return gemini_store.gemini_prepare_fork(backend_session_id, working_dir, environ)


ADAPTER = GeminiAdapter()
