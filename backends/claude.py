"""Adapter for Anthropic's Claude Code CLI (`claude -p ... --output-format stream-json`)."""

from __future__ import annotations

from clinvk.backends import claude_store
from clinvk.backends._jsonl import JsonLineParser, as_cost, as_dict, as_int, as_list, as_str
from clinvk.backends.base import Adapter, BackendError, Done, TextDelta, Usage, UsageReport
from clinvk.backends.claude_store import usage_from_api_usage, usage_from_model_usage

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from clinvk.backends.base import Event, Relocation, Retention, StoreFile, TurnRequest
    from clinvk.backends.transcript import Transcript, TranscriptTurn

# --- usage --------------------------------------------------------------------------


def billed_usage_of_result(result: Mapping[str, Any]) -> Usage:
    """Usage of one turn from a `result` object.

    Measured against the stand-in API: `usage` covers every API request of the invocation
    (tool turns included), while `modelUsage` adds up over the whole session across
    resumes and so must not be used. `model_usage_since_last_result`, when present, is the
    per-invocation map over all models and is preferred, covering side requests on other
    models.
    """
    per_model = as_dict(result.get("model_usage_since_last_result"))
    if per_model:
        return usage_from_model_usage(per_model)
    return usage_from_api_usage(result.get("usage"))


def _main_model(result: Mapping[str, Any], known: str | None) -> str | None:
    models = as_dict(result.get("modelUsage"))
    if known and (not models or known in models):
        return known
    best, best_tokens = None, -1
    for name, entry in models.items():
        entry = as_dict(entry)
        tokens = as_int(entry.get("inputTokens")) + as_int(entry.get("outputTokens"))
        if tokens > best_tokens:
            best, best_tokens = name, tokens
    return best or known


# --- parser -------------------------------------------------------------------------


class ClaudeParser(JsonLineParser):
    """Parses `claude -p --output-format stream-json --verbose [--include-partial-messages]`
    (and also the single-object `--output-format json`)."""

    name = "claude"

    def __init__(self) -> None:
        super().__init__()
        self.current_message = ""
        self.streamed_blocks: dict[str, set[int]] = {}  # message id -> indexes with deltas
        self.consumed_blocks: dict[str, int] = {}  # message id -> text blocks matched
        self.text_emitted = False

    def handle(self, obj: dict[str, Any]) -> list[Event]:
        kind = obj.get("type")
        if kind == "system":
            return self._system(obj)
        if kind in ("stream_event", "assistant") and obj.get("parent_tool_use_id"):
            return []  # a subagent's own messages are not the reply
        if kind == "stream_event":
            return self._stream_event(obj)
        if kind == "assistant":
            return self._assistant(obj)
        if kind == "result":
            return self._result(obj)
        return []

    def _system(self, obj: dict[str, Any]) -> list[Event]:
        subtype = obj.get("subtype")
        if subtype == "init":
            return self.started(obj.get("session_id"), obj.get("model"))
        if subtype == "api_retry":
            attempt, limit = as_int(obj.get("attempt")), as_int(obj.get("max_retries"))
            reason = as_str(obj.get("error")) or "unknown error"
            return [BackendError(f"API retry {attempt}/{limit}: {reason}", fatal=False)]
        return []

    def _text(self, text: Any) -> list[Event]:
        if not isinstance(text, str) or not text:
            return []
        self.text_emitted = True
        return [TextDelta(text)]

    def _stream_event(self, obj: dict[str, Any]) -> list[Event]:
        event = as_dict(obj.get("event"))
        kind = event.get("type")
        if kind == "message_start":
            self.current_message = as_str(as_dict(event.get("message")).get("id")) or ""
            return []
        message_id = as_str(obj.get("api_message_id")) or self.current_message
        index = as_int(event.get("index"))
        if kind == "content_block_start":
            block = as_dict(event.get("content_block"))
            return self._streamed(message_id, index, block, "text")
        if kind == "content_block_delta":
            return self._streamed(message_id, index, as_dict(event.get("delta")), "text_delta")
        return []

    def _streamed(self, message_id: str, index: int, part: dict[str, Any], kind: str) -> list[Event]:
        """The text of a streamed block or delta of type `kind`, noted as streamed so that
        the whole message's line does not show it again."""
        if part.get("type") != kind or not as_str(part.get("text")):
            return []
        self.streamed_blocks.setdefault(message_id, set()).add(index)
        return self._text(part.get("text"))

    def _assistant(self, obj: dict[str, Any]) -> list[Event]:
        """Text of a whole assistant message, except the text blocks already streamed as
        deltas. claude may split one API message into several `assistant` lines (one per
        content block), so streamed blocks are matched in order, not by position."""
        message = as_dict(obj.get("message"))
        message_id = as_str(message.get("id")) or ""
        events = self.started(obj.get("session_id"))
        for block in as_list(message.get("content")):
            block = as_dict(block)
            text = as_str(block.get("text"))
            if block.get("type") != "text" or not text:
                continue
            streamed = len(self.streamed_blocks.get(message_id, ()))
            consumed = self.consumed_blocks.get(message_id, 0)
            if consumed < streamed:
                self.consumed_blocks[message_id] = consumed + 1
                continue
            events += self._text(text)
        return events

    def _result(self, obj: dict[str, Any]) -> list[Event]:
        model = _main_model(obj, self.model)
        events = self.started(obj.get("session_id"), model)
        subtype = as_str(obj.get("subtype")) or ""
        text = as_str(obj.get("result"))
        failed = obj.get("is_error") is True or subtype.startswith("error")
        if not failed and not self.text_emitted:  # e.g. `--output-format json` by the user
            events += self._text(text)
        cost = as_cost(obj.get("total_cost_usd"))
        events.append(UsageReport(billed_usage_of_result(obj), cost, model))
        if failed:
            message = text or "; ".join(str(e) for e in as_list(obj.get("errors"))[:3])
            events.append(BackendError(message or f"claude failed ({subtype or 'error'})"))
            events.append(Done(None))
            return events
        events.append(Done(text))
        return events


# --- adapter ------------------------------------------------------------------------


class ClaudeAdapter(Adapter):
    name = "claude"
    default_command = "claude"
    install_hint = "npm install -g @anthropic-ai/claude-code"

    def build_argv(self, request: TurnRequest) -> list[str]:
        """Options first, the prompt last after `--`, so that a prompt starting with "-" or
        equal to a subcommand name (e.g. "doctor") is always taken as the prompt."""
        argv = [request.command, "-p", "--output-format", "stream-json", "--verbose"]
        argv.append("--include-partial-messages")
        if request.resume_id:
            argv += ["--resume", request.resume_id]
            if request.fork:
                argv.append("--fork-session")
        if request.model:
            argv += ["--model", request.model]
        argv += [*request.extra_flags, *request.passthrough]
        if request.long_prompt:  # `claude -p` with no prompt argument reads it from stdin
            return argv
        return [*argv, "--", request.prompt]

    def new_parser(self, baseline: Usage | None = None) -> ClaudeParser:
        return ClaudeParser()

    def session_files(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str]
    ) -> list[Path]:
        return claude_store.claude_session_files(backend_session_id, working_dir, environ)

    # --- interactive sessions and transcripts (claude_transcript, claude_usage) ------------

    assigns_session_id = True  # `claude --session-id UUID` starts a new session with that id

    def build_interactive_argv(self, request: TurnRequest, new_session_id: str | None) -> list[str]:
        argv = [request.command]
        if request.resume_id:
            argv += ["--resume", request.resume_id]
            if request.fork:  # a copy under the id clinvk chose (measured on claude 2.1.330)
                argv.append("--fork-session")
        if new_session_id and (request.fork or not request.resume_id):
            argv += ["--session-id", new_session_id]
        if request.model:
            argv += ["--model", request.model]
        first = [request.prompt] if request.prompt and not request.resume_id else []
        return [*argv, *request.extra_flags, *request.passthrough, *first]

    def list_session_files(self, working_dir: str, environ: Mapping[str, str]) -> set[Path]:
        return claude_store.list_claude_files(working_dir, environ)

    def find_new_session(
        self, working_dir: str, started_at: float, environ: Mapping[str, str], before: set[Path]
    ) -> str | None:
        return claude_store.find_new_claude_session(working_dir, started_at, environ, before)

    def interactive_snapshot(self, working_dir: str, environ: Mapping[str, str],
                             resume_id: str | None, scratch: Path) -> None:
        """Before an interactive run: where claude's own usage count starts (claude_usage)."""
        from clinvk.backends import claude_usage

        claude_usage.snapshot(working_dir, environ, resume_id, scratch)

    def interactive_turn_usage(self, turns: list[TranscriptTurn], scratch: Path,
                               session_id: str) -> list[TranscriptTurn] | None:
        """The run's new turns with the requests no transcript line holds (the title
        requests of claude 2.1.197's TUI) added, from claude's own count (claude_usage)."""
        from clinvk.backends import claude_usage

        return claude_usage.exact_turn_usage(turns, scratch, session_id)

    def read_transcript(self, files: list[Path]) -> Transcript:
        from clinvk.backends import claude_transcript

        return claude_transcript.read_claude_transcript(files)

    # --- adopting claude's own conversations -----------------------------------------------

    def native_files(self, environ: Mapping[str, str]) -> list[Path]:
        return claude_store.native_claude_files(environ)

    def native_transcript(self, path: Path, environ: Mapping[str, str]) -> Transcript:
        from clinvk.backends import claude_transcript

        transcript = claude_transcript.read_claude_transcript([path], whole=True)
        transcript.session_id = transcript.session_id or path.stem
        return transcript

    # --- moving and forking sessions (see claude_store) -----------------------------------

    def store_root(self, environ: Mapping[str, str]) -> Path:
        return claude_store.claude_config_dir(environ)

    def own_retention(self, environ: Mapping[str, str]) -> Retention | None:
        return claude_store.claude_retention(environ)

    def relocate(self, items: list[Relocation], environ: Mapping[str, str]) -> list[list[StoreFile]]:
        return claude_store.claude_relocate(items)

    def prepare_fork(
        self, backend_session_id: str, working_dir: str, environ: Mapping[str, str], scratch: Path
    ) -> str:
        return backend_session_id  # `--resume ID --fork-session` makes the copy


ADAPTER = ClaudeAdapter()
