"""The three backend adapters against the real outputs captured in tests/samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from clinvk.backends import NAMES, get_adapter
from clinvk.backends._jsonl import clean_line
from clinvk.backends.base import (
    BackendError,
    Diagnostic,
    Done,
    SessionStarted,
    TextDelta,
    TurnRequest,
    Usage,
    UsageReport,
)
from clinvk.backends.claude import billed_usage_of_result
from clinvk.backends.gemini import usage_from_json_stats, usage_from_stream_stats
from hypothesis import given, settings
from hypothesis import strategies as st

SAMPLES = Path(__file__).resolve().parent / "samples"
STORES = SAMPLES / "stores"

CLAUDE_SID = "e6bf02ca-ce99-4417-954d-4e12c0cd6d87"
CLAUDE_PARTIAL_SID = "3dbd942d-6a84-4c91-8f39-9b9bca35c37f"
CLAUDE_JSON_SID = "8b9a0c36-b6a5-42b0-a483-53e93009ce30"
CODEX_TID = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
GEMINI_SID = "f9ad2cf4-b0c9-4f1f-a838-05007590e1d3"
GEMINI_CHAT_SID = "5b4a512b-8d98-41cd-a496-76c356c7b970"
CODEX_BUSY = "We\u2019re currently experiencing high demand, which may cause temporary errors."


def run(backend: str, lines: list[str], exit_code: int | None = 0, baseline=None) -> list:
    parser = get_adapter(backend).new_parser(baseline)
    events = []
    for line in lines:
        events += parser.feed(line)
    return events + parser.finish(exit_code)


def sample_lines(name: str) -> list[str]:
    return (SAMPLES / name).read_text(encoding="utf-8").splitlines()


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


# --- claude -----------------------------------------------------------------------------


def test_claude_stream_json():
    assert run("claude", sample_lines("claude-stream-json.jsonl")) == [
        SessionStarted(CLAUDE_SID, "claude-opus-5-5"),
        TextDelta("MOCK REPLY #2: I saw 2 messages."),
        UsageReport(Usage(102, 0, 0, 7, 0), 0.000548, "claude-opus-5-5"),
        Done("MOCK REPLY #2: I saw 2 messages."),
    ]


def test_claude_partial_messages_text_exactly_once_and_cache_tokens_counted():
    text = "MOCK CLAUDE REPLY to 2 messages."
    events = run("claude", sample_lines("claude-stream-json-partial.jsonl"))
    assert events == [
        SessionStarted(CLAUDE_PARTIAL_SID, "claude-opus-5-5"),
        TextDelta(text),
        # input = 102 uncached + 40 cache reads + 20 cache writes
        UsageReport(Usage(162, 40, 20, 7, 0), 0.000656, "claude-opus-5-5"),
        Done(text),
    ]
    assert "".join(e.text for e in of(events, TextDelta)) == text


def test_claude_json_single_object():
    text = "MOCK CLAUDE REPLY to 2 messages."
    assert run("claude", sample_lines("claude-json.json")) == [
        SessionStarted(CLAUDE_JSON_SID, "claude-opus-5-5"),
        TextDelta(text),  # nothing was streamed: the result text is the reply
        UsageReport(Usage(162, 40, 20, 7, 0), 0.000656, "claude-opus-5-5"),
        Done(text),
    ]


def test_claude_is_error_with_subtype_success_is_fatal():
    events = run("claude", sample_lines("claude-api-error.json"), exit_code=1)
    message = (
        "API Error: 500 mock internal error. This is a server-side issue, usually temporary "
        "\u2014 try again in a moment. If it persists, check your inference gateway "
        "(127.0.0.1:18800)."
    )
    assert events == [
        SessionStarted("aaa65bf4-347f-4836-836f-d702dd1fe1a5", None),
        UsageReport(Usage(), 0.0, None),
        BackendError(message, fatal=True),
        Done(None),
    ]  # exit code 1 adds nothing: the fatal error was seen already


def test_claude_resume_missing_plain_text_and_exit_code():
    line = sample_lines("claude-resume-missing.stderr")[0]
    events = run("claude", [line + "\r"], exit_code=1)
    assert events == [
        Diagnostic(line),
        BackendError(f"claude exited with code 1: {line}", fatal=True),
        Done(None),
    ]


def test_claude_crlf_and_ansi_escapes():
    lines = [line + "\r" for line in sample_lines("claude-stream-json.jsonl")]
    lines[-1] += "\x1b[?25h"
    lines.append("\x1b[?25h\r")
    assert run("claude", lines) == run("claude", sample_lines("claude-stream-json.jsonl"))


def test_claude_usage_ignores_session_cumulative_model_usage():
    result = json.loads(sample_lines("claude-json.json")[0])
    result.pop("model_usage_since_last_result", None)
    # modelUsage adds up over the whole session across resumes: never the turn's figure
    result["modelUsage"]["claude-opus-5-5"]["inputTokens"] = 5000
    assert billed_usage_of_result(result) == Usage(162, 40, 20, 7, 0)
    events = run("claude", [json.dumps(result)])
    assert of(events, UsageReport)[0].model == "claude-opus-5-5"


def test_claude_sums_per_invocation_model_usage_over_models():
    result = json.loads(sample_lines("claude-json.json")[0])
    result["model_usage_since_last_result"] = {
        "claude-opus-5-5": {"inputTokens": 102, "outputTokens": 7, "cacheReadInputTokens": 40,
                            "cacheCreationInputTokens": 20, "thinkingTokens": 0},
        "claude-haiku-mini": {"inputTokens": 30, "outputTokens": 5, "cacheReadInputTokens": 10,
                              "cacheCreationInputTokens": 0, "thinkingTokens": 2},
    }
    assert billed_usage_of_result(result) == Usage(162 + 40, 50, 20, 12, 2)


def test_claude_assistant_text_only_for_blocks_without_deltas():
    def stream(event: dict) -> str:
        return json.dumps({"type": "stream_event", "event": event, "session_id": "s"})

    def assistant(content: list) -> str:
        message = {"id": "m1", "content": content}
        return json.dumps({"type": "assistant", "message": message, "session_id": "s"})

    lines = [
        stream({"type": "message_start", "message": {"id": "m1"}}),
        stream({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking"}}),
        stream({"type": "content_block_start", "index": 1, "content_block": {"type": "text"}}),
        stream({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hel"}}),
        stream({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "lo"}}),
        assistant([{"type": "thinking", "thinking": "hmm"}]),
        assistant([{"type": "text", "text": "Hello"}]),  # already streamed
        assistant([{"type": "text", "text": " world"}]),  # never streamed
    ]
    subagent = json.loads(assistant([{"type": "text", "text": "inner"}]))
    subagent["parent_tool_use_id"] = "toolu_1"
    lines.append(json.dumps(subagent))
    texts = [e.text for e in run("claude", lines) if isinstance(e, TextDelta)]
    assert texts == ["Hel", "lo", " world"]


# --- codex ------------------------------------------------------------------------------

METADATA_WARNING = (
    "Model metadata for `gpt-mock` not found. Defaulting to fallback metadata; "
    "this can degrade performance and cause issues."
)


def test_codex_first_turn():
    text = "MOCK CODEX REPLY to 2 user messages."
    assert run("codex", sample_lines("codex-exec-json.jsonl")) == [
        SessionStarted(CODEX_TID, None),
        BackendError(METADATA_WARNING, fatal=False),
        TextDelta(text),
        UsageReport(Usage(204, 50, 0, 9, 3), None, None),
        Done(text),
    ]


def test_codex_resumed_turn_subtracts_running_totals():
    baseline = of(run("codex", sample_lines("codex-exec-json.jsonl")), UsageReport)[0].usage
    events = run("codex", sample_lines("codex-exec-resume-json.jsonl"), baseline=baseline)
    # totals 410/100/0/18/6 minus the first turn's 204/50/0/9/3
    assert of(events, UsageReport) == [UsageReport(Usage(206, 50, 0, 9, 3), None, None)]
    assert of(events, Done) == [Done("MOCK CODEX REPLY to 3 user messages.")]
    without = run("codex", sample_lines("codex-exec-resume-json.jsonl"), baseline=None)
    assert of(without, UsageReport)[0].usage == Usage(410, 100, 0, 18, 6)


def test_codex_api_error_reconnects_are_warnings_turn_failed_is_fatal():
    lines = sample_lines("codex-api-error.stderr") + sample_lines("codex-api-error.jsonl")
    events = run("codex", [line + "\r" for line in lines], exit_code=1)
    assert of(events, Diagnostic) == [Diagnostic(line) for line in lines[:2]]
    errors = of(events, BackendError)
    assert errors[0] == BackendError(METADATA_WARNING, fatal=False)
    assert [e.message for e in errors[1:6]] == [f"Reconnecting... {n}/5 ({CODEX_BUSY})" for n in range(1, 6)]
    assert not any(e.fatal for e in errors[:-1])
    assert errors[-1] == BackendError(CODEX_BUSY, fatal=True)
    assert len(errors) == 8 and of(events, Done) == [Done(None)]
    assert not of(events, UsageReport)


def test_codex_several_agent_messages_are_separated():
    lines = [
        json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": "a"}}),
        json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": "b"}}),
        json.dumps({"type": "turn.completed", "usage": {}}),
    ]
    events = run("codex", lines)
    assert of(events, TextDelta) == [TextDelta("a"), TextDelta("\n\nb")]
    assert of(events, Done) == [Done("a\n\nb")]


# --- gemini -----------------------------------------------------------------------------


def test_gemini_stream_json_counts_thoughts():
    text = "MOCK GEMINI REPLY to 1 contents."
    lines = ["Warning: 256-color support not detected.", "Ripgrep is not available."]
    lines += sample_lines("gemini-stream-json.jsonl")
    assert run("gemini", [line + "\r" for line in lines]) == [
        Diagnostic(lines[0]),
        Diagnostic(lines[1]),
        SessionStarted(GEMINI_SID, "gemini-2.5-flash"),
        TextDelta(text),
        # thoughts = 316 total - 301 input - 11 candidates = 4
        UsageReport(Usage(301, 60, 0, 15, 4), None, "gemini-mock"),
        Done(text),
    ]


def test_gemini_json_output_usage():
    stats = json.loads((SAMPLES / "gemini-json.json").read_text())["stats"]
    assert usage_from_json_stats(stats) == Usage(301, 60, 0, 15, 4)


def test_gemini_routed_json_includes_router_tokens():
    stats = json.loads((SAMPLES / "gemini-json-routed.json").read_text())["stats"]
    # main 301 prompt + router 30; candidates 11 + 5, thoughts 4
    assert usage_from_json_stats(stats) == Usage(331, 60, 0, 20, 4)


def test_gemini_stream_stats_summed_over_models():
    router = {"total_tokens": 35, "input_tokens": 30, "output_tokens": 5, "cached": 0}
    main = {"total_tokens": 316, "input_tokens": 301, "output_tokens": 11, "cached": 60}
    stats = {"total_tokens": 351, "models": {"router-lite": router, "gemini-mock": main}}
    assert usage_from_stream_stats(stats) == Usage(331, 60, 0, 20, 4)
    assert usage_from_stream_stats({"total_tokens": 5, "input_tokens": 9}) == Usage(9, 0, 0, 0, 0)


def test_gemini_errors():
    error = {"session_id": "x1", "error": {"type": "Error", "message": "bad thing", "code": 42}}
    events = run("gemini", [json.dumps(error)], exit_code=42)
    assert events == [SessionStarted("x1", None), BackendError("bad thing"), Done(None)]
    failed = {"type": "result", "status": "error", "error": {"type": "X", "message": "boom"}}
    assert of(run("gemini", [json.dumps(failed)], 1), BackendError) == [BackendError("boom")]
    odd = {"type": "result", "status": "cancelled"}
    assert of(run("gemini", [json.dumps(odd)], 0), BackendError) == [
        BackendError("gemini turn ended with status cancelled")
    ]
    warning = {"type": "error", "severity": "warning", "message": "Loop detected"}
    assert run("gemini", [json.dumps(warning)])[0] == BackendError("Loop detected", fatal=False)


def test_gemini_api_error_stderr_and_exit_code():
    lines = sample_lines("gemini-api-error.stderr")
    events = run("gemini", lines, exit_code=1)
    assert len(of(events, Diagnostic)) == len([line for line in lines if line.strip()])
    [error] = of(events, BackendError)
    assert error.fatal and error.message.startswith("gemini exited with code 1: ")
    assert error.message.endswith(clean_line(lines[-1]))
    assert events[-1] == Done(None)


def test_gemini_invalid_session_exit_42():
    events = run("gemini", ["Invalid session identifier"], exit_code=42)
    assert BackendError("gemini exited with code 42: Invalid session identifier") in events


# --- every parser is total ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
KNOWN_KEYS = [
    "type",
    "subtype",
    "session_id",
    "model",
    "event",
    "message",
    "content",
    "delta",
    "index",
    "text",
    "result",
    "is_error",
    "usage",
    "modelUsage",
    "model_usage_since_last_result",
    "total_cost_usd",
    "thread_id",
    "item",
    "error",
    "status",
    "stats",
    "models",
    "role",
    "severity",
    "api_message_id",
    "content_block",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cached",
    "tokens",
]
KNOWN_TYPES = [
    "system",
    "init",
    "stream_event",
    "assistant",
    "result",
    "thread.started",
    "item.completed",
    "turn.completed",
    "turn.failed",
    "error",
    "message",
    "message_start",
    "content_block_start",
    "content_block_delta",
    "text_delta",
    "agent_message",
    "text",
]
shaped_objects = st.recursive(
    st.sampled_from(KNOWN_TYPES) | json_values,
    lambda children: (
        st.dictionaries(st.sampled_from(KNOWN_KEYS), children, max_size=6) | st.lists(children, max_size=3)
    ),
    max_leaves=25,
)


def _feed_all(backend: str, lines: list[str], exit_code) -> None:
    parser = get_adapter(backend).new_parser(None)
    for line in lines:
        assert isinstance(parser.feed(line), list)
    assert isinstance(parser.finish(exit_code), list)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(), max_size=8), st.none() | st.integers(-300, 300))
def test_parsers_never_raise_on_text(lines, exit_code):
    for backend in NAMES:
        _feed_all(backend, lines, exit_code)


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values | shaped_objects, max_size=8))
def test_parsers_never_raise_on_json(values):
    lines = [json.dumps(v) for v in values]
    for backend in NAMES:
        _feed_all(backend, lines, 1)
        parser = get_adapter(backend).new_parser(Usage(5, 1, 0, 2, 0))
        for line in lines:
            parser.feed(line)


@settings(max_examples=100, deadline=None)
@given(shaped_objects)
def test_usage_functions_never_raise(value):
    from clinvk.backends.codex import usage_from_codex

    for fn in (billed_usage_of_result, usage_from_json_stats, usage_from_stream_stats):
        assert isinstance(fn(value if isinstance(value, dict) else {"x": value}), Usage)
    assert isinstance(usage_from_codex(value), Usage)


def test_non_object_json_and_blank_lines():
    events = run("codex", ["", "   \r", "42", "[1, 2]", '"text"', "{not json"], exit_code=0)
    assert events == [
        Diagnostic("42"),
        Diagnostic("[1, 2]"),
        Diagnostic('"text"'),
        Diagnostic("{not json"),
        Done(None),
    ]


def test_unknown_json_types_are_ignored():
    lines = ['{"type": "brand.new.event", "x": 1}', '{"no_type": true}']
    for backend in NAMES:
        assert run(backend, lines) == [Done(None)]


def test_clean_line():
    assert clean_line('\x1b[?25l{"a": 1}\x1b[?25h\r') == '{"a": 1}'
    assert clean_line("spinner...\r{}") == "{}"
    assert clean_line("\x1b]0;title\x07warning\r\n") == "warning"


# --- command lines --------------------------------------------------------------------------


def request(**kw) -> TurnRequest:
    return TurnRequest(**{"prompt": "hello", "command": "/bin/x", **kw})


def test_claude_argv():
    adapter = get_adapter("claude")
    base = ["/bin/x", "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
    assert adapter.build_argv(request()) == [*base, "--", "hello"]
    full = request(
        prompt="-rm",
        resume_id="abc",
        model="opus",
        extra_flags=["--add-dir", "/a"],
        passthrough=["--effort", "high"],
    )
    assert adapter.build_argv(full) == [
        *base,
        "--resume",
        "abc",
        "--model",
        "opus",
        "--add-dir",
        "/a",
        "--effort",
        "high",
        "--",
        "-rm",
    ]


def test_codex_argv():
    adapter = get_adapter("codex")
    base = ["/bin/x", "exec", "--json", "--skip-git-repo-check"]
    assert adapter.build_argv(request()) == [*base, "--", "hello"]
    full = request(
        prompt="--help",
        resume_id="T1",
        model="o9",
        extra_flags=["-s", "read-only"],
        passthrough=["-c", "k=v"],
    )
    assert adapter.build_argv(full) == [
        *base,
        "-m",
        "o9",
        "-s",
        "read-only",
        "-c",
        "k=v",
        "resume",
        "T1",
        "--",
        "--help",
    ]


def test_codex_interactive_argv_runs_without_the_shared_daemon(tmp_path: Path):
    adapter = get_adapter("codex")
    new = request(prompt="", model="o9", passthrough=["-s", "read-only"])
    assert adapter.build_interactive_argv(new, None) == ["/bin/x", "-m", "o9", "-s", "read-only",
                                                         "--no-daemon"]
    resumed = request(prompt="", resume_id="T1")
    assert adapter.build_interactive_argv(resumed, None) == ["/bin/x", "resume", "--no-daemon",
                                                             "--", "T1"]
    own = request(prompt="", passthrough=["--no-daemon"])  # not twice
    assert adapter.build_interactive_argv(own, None) == ["/bin/x", "--no-daemon"]
    remote = request(prompt="", passthrough=["--remote", "ws://h:1"])  # codex refuses both
    assert adapter.build_interactive_argv(remote, None) == ["/bin/x", "--remote", "ws://h:1"]
    # per run: codex's log file into the scratch folder, before resume's `-- THREAD_ID`
    argv = ["/bin/x", "resume", "--no-daemon", "--", "T1"]
    log = json.dumps(str(tmp_path / "codex-log"))
    assert adapter.interactive_argv(argv, {}, tmp_path) == [
        "/bin/x", "resume", "--no-daemon", "-c", f"log_dir={log}", "--", "T1"]
    assert adapter.interactive_env("/w", {}, tmp_path) == {"RUST_LOG": "codex_otel.log_only=info"}
    # the user's own RUST_LOG: kept for codex and for the commands the agent runs
    theirs = {"RUST_LOG": 'my_crate=debug,"x"'}
    assert adapter.interactive_env("/w", theirs, tmp_path) == {
        "RUST_LOG": 'my_crate=debug,"x",codex_otel.log_only=info'}
    assert adapter.interactive_argv(["/bin/x"], theirs, tmp_path) == [
        "/bin/x", "-c", f"log_dir={log}",
        "-c", 'shell_environment_policy.set.RUST_LOG="my_crate=debug,\\"x\\""']
    assert adapter.interactive_argv(["/bin/x", "--remote", "ws://h:1"], {}, tmp_path) == [
        "/bin/x", "--remote", "ws://h:1"]


CODEX_MAIN = "01a208d0-45cb-72f3-953d-62d9212946a3"
CODEX_TITLE = "01a208d0-5c84-7af1-8e85-87826ed56051"


def _codex_log_line(time: str, thread: str, fields: str) -> str:
    """A line of codex 0.169's log file as RUST_LOG=codex_otel.log_only=info writes it."""
    return (f"2026-11-23T14:{time}Z  INFO codex_otel.log_only: {fields} "
            f"event.timestamp=2026-11-23T14:{time[:9]}Z conversation.id={thread} "
            "app.version=0.169.0 originator=codex-tui terminal.type=xterm-256color model=gpt-mock")


def _codex_completed(time: str, thread: str, inp: int, out: int) -> str:
    return _codex_log_line(time, thread, (
        'event.name="codex.sse_event" event.kind=response.completed '
        f"input_token_count={inp} output_token_count={out} cached_token_count=50 "
        f"cache_write_token_count=0 reasoning_token_count=3 tool_token_count={inp + out} ttft_ms=0"))


def _codex_turns(*usages: Usage):
    from clinvk.backends.transcript import TranscriptTurn

    times = ["2026-11-23T14:30:02.585Z", "2026-11-23T14:31:10.000Z", "2026-11-23T14:32:00.000Z"]
    return [TranscriptTurn(f"p{n}", times[n], times[n], usage, "gpt-mock")
            for n, usage in enumerate(usages)]


def _write_codex_log(scratch: Path, lines: list[str]) -> None:
    (scratch / "codex-log").mkdir(parents=True, exist_ok=True)
    (scratch / "codex-log" / "codex-tui.log").write_text("\n".join(lines) + "\n")


def test_codex_title_threads_usage_goes_to_the_turn_it_was_asked_in(tmp_path: Path):
    adapter = get_adapter("codex")
    lines = [
        _codex_log_line("29:56.851745", CODEX_MAIN, 'event.name="codex.startup_phase"'),
        _codex_log_line("30:02.585685", CODEX_MAIN, 'event.name="codex.user_prompt" prompt=[REDACTED]'),
        _codex_log_line("30:02.644978", CODEX_MAIN,  # the same response, without the counts
                        'event.name="codex.sse_event" event.kind=response.completed duration_ms=0'),
        _codex_completed("30:02.645132", CODEX_MAIN, 683, 11),
        _codex_log_line("30:02.657913", CODEX_TITLE, 'event.name="codex.startup_phase"'),
        # a prompt logged in clear (otel.log_user_prompt) cannot pass for a response
        _codex_log_line("30:02.688349", CODEX_TITLE, 'event.name="codex.user_prompt" prompt=hi '
                        "event.name=codex.sse_event event.kind=response.completed "
                        "input_token_count=999999"),
        "2026-11-23T14:30:02.700000Z DEBUG codex_core::x: input_token_count=5 (another target)",
        # the title request answered after the next prompt was sent: still the first turn's
        _codex_completed("31:11.000000", CODEX_TITLE, 403, 11),
        _codex_completed("31:11.500000", CODEX_MAIN, 697, 11),
    ]
    _write_codex_log(tmp_path, lines)
    rollout = [Usage(683, 50, 0, 11, 3), Usage(697, 50, 0, 11, 3)]
    turns = adapter.interactive_turn_usage(_codex_turns(*rollout), tmp_path, CODEX_MAIN)
    assert [t.usage for t in turns] == [Usage(1086, 100, 0, 22, 6), Usage(697, 50, 0, 11, 3)]
    assert [t.prompt for t in turns] == ["p0", "p1"]
    # no log (codex --remote, an older codex): the rollout's figures stand
    assert adapter.interactive_turn_usage(_codex_turns(*rollout), tmp_path / "none", CODEX_MAIN) is None


def test_codex_log_and_rollout_disagreeing(tmp_path: Path):
    adapter = get_adapter("codex")
    # a response billed but cut short of the rollout (codex killed): the last turn gets it
    _write_codex_log(tmp_path, [_codex_completed("30:03.000000", CODEX_MAIN, 683, 11),
                                _codex_completed("31:12.000000", CODEX_MAIN, 697, 11),
                                _codex_completed("31:13.000000", CODEX_MAIN, 700, 11)])
    rollout = [Usage(683, 50, 0, 11, 3), Usage(697, 50, 0, 11, 3)]
    turns = adapter.interactive_turn_usage(_codex_turns(*rollout), tmp_path, CODEX_MAIN)
    assert [t.usage for t in turns] == [rollout[0], Usage(1397, 100, 0, 22, 6)]
    # a log short of the rollout (cut off): the rollout stands, other threads still count
    _write_codex_log(tmp_path, [_codex_completed("30:03.000000", CODEX_TITLE, 403, 11)])
    turns = adapter.interactive_turn_usage(_codex_turns(*rollout), tmp_path, CODEX_MAIN)
    assert [t.usage for t in turns] == [Usage(1086, 100, 0, 22, 6), rollout[1]]


def test_gemini_argv():
    adapter = get_adapter("gemini")
    assert adapter.build_argv(request()) == ["/bin/x", "-p", "hello", "--output-format", "stream-json"]
    full = request(
        prompt="-v please", resume_id="S1", model="g2", extra_flags=["--yolo"], passthrough=["--debug"]
    )
    assert adapter.build_argv(full) == [
        "/bin/x",
        "--prompt=-v please",
        "--output-format",
        "stream-json",
        "--resume",
        "S1",
        "-m",
        "g2",
        "--yolo",
        "--debug",
    ]


@pytest.mark.parametrize("backend", NAMES)
def test_adapter_metadata(backend):
    adapter = get_adapter(backend)
    assert adapter.name == backend == adapter.default_command
    assert adapter.install_hint.startswith("npm install -g @")
    assert adapter.version_argv("/opt/x") == ["/opt/x", "--version"]
    assert adapter.build_argv(request())[0] == "/bin/x"


# --- the backends' own stores ----------------------------------------------------------------


def _place(home: Path, path_file: str, sample: str) -> Path:
    relative = (STORES / path_file).read_text().strip().removeprefix("~/")
    target = home / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(STORES / sample, target)
    return target


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_claude_session_files(home: Path):
    target = _place(home, "claude-path.txt", "claude-projects-transcript.jsonl")
    adapter, env = get_adapter("claude"), {"HOME": str(home)}
    assert adapter.session_files(CLAUDE_JSON_SID, "/home/user/proj", env) == [target]
    # found from elsewhere too (e.g. a symlinked working dir), never a wrong id
    assert adapter.session_files(CLAUDE_JSON_SID, "/elsewhere", env) == [target]
    assert adapter.session_files(CLAUDE_SID, "/home/user/proj", env) == []
    assert adapter.session_files("../x", "/home/user/proj", env) == []
    moved = {"HOME": "/nonexistent", "CLAUDE_CONFIG_DIR": str(home / ".claude")}
    assert adapter.session_files(CLAUDE_JSON_SID, "/home/user/proj", moved) == [target]
    assert adapter.usage_baseline(CLAUDE_JSON_SID, "/home/user/proj", env) is None


def test_claude_project_dir_encoding():
    from clinvk.backends.claude_store import project_dir_name

    assert project_dir_name("/home/user/proj") == "-home-user-proj"
    assert project_dir_name("/tmp/a.b_c d") == "-tmp-a-b-c-d"


def test_codex_session_files_and_baseline(home: Path, tmp_path: Path):
    target = _place(home, "codex-path.txt", "codex-rollout.jsonl")
    adapter, env = get_adapter("codex"), {"HOME": str(home)}
    assert adapter.session_files(CODEX_TID, "/anywhere", env) == [target]
    assert adapter.usage_baseline(CODEX_TID, "/anywhere", env) == Usage(410, 100, 0, 18, 6)
    # the rollout as it was after the first turn: its baseline makes turn 2 = 206 input
    lines = target.read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if '"token_count"' in line)
    target.write_text("".join(lines[: cut + 1]))
    baseline = adapter.usage_baseline(CODEX_TID, "/anywhere", env)
    assert baseline == Usage(204, 50, 0, 9, 3)
    events = run("codex", sample_lines("codex-exec-resume-json.jsonl"), baseline=baseline)
    assert of(events, UsageReport)[0].usage == Usage(206, 50, 0, 9, 3)
    moved = {"HOME": "/nonexistent", "CODEX_HOME": str(home / ".codex")}
    assert adapter.session_files(CODEX_TID, "/anywhere", moved) == [target]
    empty = {"HOME": str(tmp_path / "nohome")}
    assert adapter.session_files(CODEX_TID, "/x", empty) == []
    assert adapter.usage_baseline(CODEX_TID, "/x", empty) is None


def test_gemini_session_files(home: Path):
    target = _place(home, "gemini-path.txt", "gemini-chat.jsonl")
    adapter, env = get_adapter("gemini"), {"HOME": str(home)}
    assert adapter.session_files(GEMINI_CHAT_SID, "/home/user/proj", env) == [target]
    # same 8-character prefix, other session: the first line's sessionId decides
    impostor = target.with_name("session-2026-11-22T23-25-5b4a512b.jsonl")
    impostor.write_text('{"sessionId": "5b4a512b-0000-0000-0000-000000000000"}\n')
    assert adapter.session_files(GEMINI_CHAT_SID, "/home/user/proj", env) == [target]
    # the project folder named in projects.json is searched first
    (home / ".gemini" / "projects.json").write_text('{"projects": {"/home/user/proj": "proj"}}')
    assert adapter.session_files(GEMINI_CHAT_SID, "/home/user/proj", env) == [target]
    moved = {"HOME": "/nonexistent", "GEMINI_CLI_HOME": str(home)}
    assert adapter.session_files(GEMINI_CHAT_SID, "/home/user/proj", moved) == [target]
    assert adapter.session_files(GEMINI_SID, "/home/user/proj", env) == []
    assert adapter.usage_baseline(GEMINI_CHAT_SID, "/home/user/proj", env) is None


@pytest.mark.parametrize("backend", NAMES)
def test_session_lookups_never_raise_on_missing_dirs(backend: str, tmp_path: Path):
    adapter = get_adapter(backend)
    env = {"HOME": str(tmp_path / "missing")}
    assert adapter.session_files("abcdef12-0000", str(tmp_path), env) == []
    assert adapter.usage_baseline("abcdef12-0000", str(tmp_path), env) is None
    (tmp_path / "missing").write_text("a file where a directory is expected")
    assert adapter.session_files("abcdef12-0000", str(tmp_path), env) == []
    assert adapter.usage_baseline("abcdef12-0000", str(tmp_path), env) is None
