"""The real claude / codex / gemini CLIs (not clinvk) against the API stand-in.

These pin down the facts clinvk relies on (docs/standin-findings.md): the argv,
that a resume carries the earlier turns, and the formula that turns each CLI's
headless usage figures into what the API billed for the turn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realcli import (  # noqa: E402
    API_OF,
    codex_running_total,
    headless_argv,
    json_lines,
    prepare_cli,
    require_cli,
    run_headless,
    run_pty,
    turn_reply_text,
    turn_session_id,
    turn_usage,
)
from standin import StandIn  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


@pytest.fixture
def standin():
    with StandIn() as s:
        yield s


def _setup(name: str, standin: StandIn, tmp_path: Path):
    exe = require_cli(name)
    home, work = tmp_path / "home", tmp_path / "proj"
    work.mkdir(parents=True)
    env = prepare_cli(name, standin, home, workdir=work, cli_path=exe)
    return exe, env, work


def _turn(name, exe, env, work, standin, prompt, resume=None, prev=None, model=None):
    since = standin.mark()
    r = run_headless(
        name,
        headless_argv(name, prompt, resume=resume, model=model, cli_path=exe),
        env,
        work,
        timeout=50,
    )
    assert r.returncode == 0, f"{name} rc={r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    events = json_lines(r.stdout)
    usage, running = turn_usage(name, events, previous_running=prev)
    return events, usage, running, standin.requests[since:], standin.billed_total(API_OF[name], since)


@pytest.mark.parametrize("name", ["claude", "codex", "gemini"])
def test_new_and_resumed_turns_match_billing(name, standin, tmp_path):
    exe, env, work = _setup(name, standin, tmp_path)
    events, usage, running, reqs, billed = _turn(name, exe, env, work, standin, "first MARK:one")
    sid = turn_session_id(name, events)
    assert sid
    assert "MARK:one" in turn_reply_text(name, events)
    assert reqs and any("first MARK:one" in t for t in reqs[-1]["user_texts"])
    assert usage == billed
    assert billed["cached_input_tokens"] > 0 and billed["output_tokens"] > 0

    for n, marker in enumerate(["two", "three"], start=2):
        events, usage, running, reqs, billed = _turn(
            name, exe, env, work, standin, f"turn {n} MARK:{marker}", resume=sid, prev=running
        )
        assert turn_session_id(name, events) == sid
        assert f"MARK:{marker}" in turn_reply_text(name, events)
        # the resumed request carried the first prompt
        main = [r for r in reqs if r["kind"] == "main"]
        assert main and any("first MARK:one" in t for t in main[-1]["user_texts"])
        assert usage == billed, f"turn {n}: reported {usage} billed {billed}"
        if name == "claude":
            assert billed["cache_creation_input_tokens"] > 0
        if name in ("codex", "gemini"):
            assert billed["reasoning_tokens"] > 0


@pytest.mark.parametrize("name", ["claude", "codex", "gemini"])
def test_tool_turn_usage_covers_all_requests(name, standin, tmp_path):
    """A turn with a tool call makes 2 main API requests; the formula still holds."""
    exe, env, work = _setup(name, standin, tmp_path)
    events, usage, running, reqs, billed = _turn(name, exe, env, work, standin, "please TOOLTURN MARK:tool")
    assert len([r for r in reqs if r["kind"] == "main"]) == 2
    assert "after tool" in turn_reply_text(name, events)
    assert usage == billed


def test_gemini_with_model_flag_skips_router(standin, tmp_path):
    exe, env, work = _setup("gemini", standin, tmp_path)
    events, usage, _, reqs, billed = _turn(
        "gemini", exe, env, work, standin, "hi MARK:m", model="gemini-2.5-flash"
    )
    assert [r["kind"] for r in reqs] == ["main"]
    assert reqs[0]["model"] == "gemini-2.5-flash"
    assert usage == billed


@pytest.mark.parametrize(
    "name,status,expect_rc",
    [("claude", 403, 1), ("codex", 400, 1), ("gemini", 400, 144)],
)
def test_fast_api_error(name, status, expect_rc, standin, tmp_path):
    exe, env, work = _setup(name, standin, tmp_path)
    standin.set_fail(API_OF[name], status, message="mock refusal XYZ")
    r = run_headless(name, headless_argv(name, "hello", cli_path=exe), env, work, timeout=30)
    assert r.returncode == expect_rc, r.stdout[-2000:] + r.stderr[-2000:]
    assert "mock refusal XYZ" in r.stdout
    events = json_lines(r.stdout)
    if name == "claude":
        res = [e for e in events if e.get("type") == "result"][-1]
        assert res["is_error"] is True and res["api_error_status"] == status
    elif name == "codex":
        assert any(e.get("type") == "turn.failed" for e in events)
    else:
        res = [e for e in events if e.get("type") == "result"][-1]
        assert res["status"] == "error"


@pytest.mark.parametrize("name", ["claude", "codex", "gemini"])
def test_under_pty(name, standin, tmp_path):
    """clinvk runs the CLIs under pexpect: same events, mixed with warning lines."""
    exe, env, work = _setup(name, standin, tmp_path)
    prev = None
    sid = None
    for n, prompt in enumerate(["pty one MARK:p1", "pty two MARK:p2"]):
        since = standin.mark()
        out, rc = run_pty(headless_argv(name, prompt, resume=sid, cli_path=exe), env, work, 50)
        assert rc == 0, out[-3000:]
        events = json_lines(out)
        sid = sid or turn_session_id(name, events)
        assert f"MARK:p{n + 1}" in turn_reply_text(name, events)
        usage, prev = turn_usage(name, events, previous_running=prev)
        assert usage == standin.billed_total(API_OF[name], since)
        if n:
            main = [r for r in standin.requests[since:] if r["kind"] == "main"]
            assert any("pty one MARK:p1" in t for t in main[-1]["user_texts"])


def test_codex_rollout_running_total(standin, tmp_path):
    """The rollout file's last token_count total equals the running total codex reports."""
    exe, env, work = _setup("codex", standin, tmp_path)
    events, usage, running, _, _ = _turn("codex", exe, env, work, standin, "roll MARK:r")
    tid = turn_session_id("codex", events)
    rollouts = list((tmp_path / "home" / ".codex" / "sessions").rglob(f"rollout-*-{tid}.jsonl"))
    assert len(rollouts) == 1
    assert codex_running_total(rollouts[0]) == running
    events, usage, running2, _, billed = _turn(
        "codex",
        exe,
        env,
        work,
        standin,
        "roll2 MARK:s",
        resume=tid,
        prev=codex_running_total(rollouts[0]),
    )
    assert usage == billed
    assert codex_running_total(rollouts[0]) == running2
