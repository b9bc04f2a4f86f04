"""Transcript readers on the real store files in tests/samples/stores/ and on files the
real CLIs write, and `clinvk sessions show ID --transcript`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clinvk.backends import get_adapter
from clinvk.backends.base import Usage
from clinvk.backends.transcript import TranscriptUnavailable, split_turns

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "tests" / "samples" / "stores"
CLAUDE_SAMPLE = SAMPLES / "claude-projects-transcript.jsonl"
CODEX_SAMPLE = SAMPLES / "codex-rollout.jsonl"
GEMINI_SAMPLE = SAMPLES / "gemini-chat.jsonl"

pytestmark = pytest.mark.timeout(120)


def test_claude_sample() -> None:
    t = get_adapter("claude").read_transcript([CLAUDE_SAMPLE])
    assert t.session_id == "8b9a0c36-b6a5-42b0-a483-53e93009ce30"
    assert t.working_dir == "/home/user/proj" and t.model == "claude-opus-5-5"
    assert [(m.role, m.text) for m in t.messages] == [
        ("user", "first prompt"), ("assistant", "MOCK CLAUDE REPLY to 2 messages.")]
    assert t.messages[0].time == "2026-11-22T23:20:53.192Z"
    # input = 102 uncached + 40 cache read + 20 cache write
    assert t.total_usage == Usage(162, 40, 20, 7, 0)


def test_codex_sample_running_totals_become_per_turn_usage() -> None:
    t = get_adapter("codex").read_transcript([CODEX_SAMPLE])
    assert t.session_id == "01a20592-dc3e-72b0-bd0f-2803fb0461c4" and t.model == "gpt-mock"
    assert [m.text for m in t.prompts()] == ["first codex", "second codex"]  # no env context
    turns = split_turns(t.messages)
    assert [u.usage for u in turns] == [Usage(204, 50, 0, 9, 3), Usage(206, 50, 0, 9, 3)]
    assert t.total_usage == Usage(410, 100, 0, 18, 6)


def test_gemini_sample_failed_turn_left_no_messages() -> None:
    t = get_adapter("gemini").read_transcript([GEMINI_SAMPLE])
    assert t.session_id == "5b4a512b-8d98-41cd-a496-76c356c7b970"
    assert t.messages == []  # the session context is not a message; the failed prompt was dropped
    assert t.total_usage == Usage()


def test_gemini_log_replay_keeps_tokens_after_a_resume_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "session-x-abcdef12.jsonl"
    lines = [
        {"sessionId": "abcdef12-0000", "projectHash": "h", "startTime": "2026-01-01T00:00:00Z"},
        {"id": "u1", "timestamp": "2026-01-01T00:00:01Z", "type": "user", "content": [{"text": "hi"}]},
        {"id": "g1", "timestamp": "2026-01-01T00:00:02Z", "type": "gemini", "content": "",
         "tokens": {"input": 100, "output": 10, "cached": 20, "thoughts": 5}, "model": "m",
         "toolCalls": [{"name": "list_directory", "args": {"dir_path": "."},
                        "result": [{"functionResponse": {"id": "c1", "response": {"output": "empty"}}}]}]},
        {"id": "u2", "timestamp": "2026-01-01T00:00:03Z", "type": "user",
         "content": [{"functionResponse": {"id": "c1", "response": {"output": "empty"}}}]},
        {"sessionId": "abcdef12-0000", "projectHash": "h", "startTime": "2026-01-01T01:00:00Z"},
        {"$set": {"messages": [  # what gemini writes on resume: no tokens, new timestamps
            {"id": "u1", "timestamp": "2026-01-01T01:00:00Z", "type": "user", "content": [{"text": "hi"}]},
            {"id": "g1", "timestamp": "2026-01-01T01:00:00Z", "type": "gemini",
             "content": [{"functionCall": {"name": "list_directory", "args": {"dir_path": "."}}}]},
            {"id": "u2", "timestamp": "2026-01-01T01:00:00Z", "type": "user",
             "content": [{"functionResponse": {"id": "c1", "response": {"output": "empty"}}}]}]}},
        {"id": "g2", "timestamp": "2026-01-01T01:00:05Z", "type": "gemini", "content": "done",
         "tokens": {"input": 200, "output": 10, "cached": 0, "thoughts": 0}},
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    t = get_adapter("gemini").read_transcript([path])
    assert [(m.role, m.text) for m in t.messages] == [
        ("user", "hi"), ("assistant", ""), ("tool", "empty"), ("assistant", "done")]
    assert t.messages[1].tool_calls[0].name == "list_directory"
    assert t.messages[0].time == "2026-01-01T00:00:01Z"
    assert t.total_usage == Usage(300, 20, 0, 25, 5)  # thoughts count as output
    [turn] = split_turns(t.messages)
    assert turn.usage == t.total_usage


def test_claude_repeated_lines_of_one_message_count_once(tmp_path: Path) -> None:
    usage = {"input_tokens": 3, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 5,
             "output_tokens": 7}
    lines = [
        {"type": "user", "timestamp": "t1", "sessionId": "s", "message": {"role": "user", "content": "go"}},
        {"type": "assistant", "timestamp": "t2", "message": {"id": "m1", "model": "c", "usage": usage,
                                                            "content": [{"type": "text", "text": "a"}]}},
        {"type": "assistant", "timestamp": "t3", "message": {
            "id": "m1", "model": "c", "usage": usage,
            "content": [{"type": "tool_use", "name": "Bash", "input": {"command": "ls -l"}}]}},
        {"type": "user", "timestamp": "t4", "message": {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "x", "content": "out"}]}},
        {"type": "user", "timestamp": "t5", "isMeta": True, "message": {"role": "user", "content": "meta"}},
        {"type": "user", "timestamp": "t6", "message": {
            "role": "user", "content": "<command-name>/exit</command-name>\n<command-args></command-args>"}},
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    t = get_adapter("claude").read_transcript([path])
    assert [(m.role, m.text) for m in t.messages] == [("user", "go"), ("assistant", "a"), ("tool", "out")]
    assert t.messages[1].tool_calls[0].brief == "command=ls -l"
    assert t.total_usage == Usage(18, 10, 5, 7, 0)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_unknown_shape_and_missing_files_raise_clearly(tmp_path: Path, backend: str) -> None:
    adapter = get_adapter(backend)
    foreign = tmp_path / "future.jsonl"
    foreign.write_text('{"v": 9, "entries": []}\n{"v": 9}\n')
    with pytest.raises(TranscriptUnavailable, match="newer version"):
        adapter.read_transcript([foreign])
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_bytes(b"\x00\xff not json at all\n")
    with pytest.raises(TranscriptUnavailable):
        adapter.read_transcript([garbage])
    with pytest.raises(TranscriptUnavailable, match="no longer exists"):
        adapter.read_transcript([tmp_path / "gone.jsonl"])


# --- `sessions show --transcript` -------------------------------------------------------------


def _clinvk(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clinvk", *args], cwd=str(cwd), env=env,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _store_session(env: dict, backend: str, backend_session_id: str, working_dir: str) -> str:
    """Write a session record through clinvk's own store and return its id."""
    code = (
        "import sys; from clinvk.store import SessionStore; from clinvk.store import session as s;"
        "from pathlib import Path;"
        "r = s.new_session(sys.argv[1], sys.argv[3], backend_session_id=sys.argv[2], title='t');"
        "print(SessionStore(Path(sys.argv[4]))." "create(r)['id'])"
    )
    done = subprocess.run([sys.executable, "-c", code, backend, backend_session_id, working_dir,
                           env["CLINVK_HOME"]], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def shown(tmp_path: Path):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path / "home"),
           "CLINVK_HOME": str(tmp_path / "clinvk-home"), "LANG": "C.UTF-8"}
    (tmp_path / "home").mkdir()
    return env, tmp_path


def test_show_transcript_of_each_sample_honours_config_dirs(shown) -> None:
    env, tmp = shown
    env["CLAUDE_CONFIG_DIR"] = str(tmp / "claude-conf")
    env["CODEX_HOME"] = str(tmp / "codex-home")
    claude_dir = tmp / "claude-conf" / "projects" / "-home-user-proj"
    claude_dir.mkdir(parents=True)
    shutil.copy(CLAUDE_SAMPLE, claude_dir / "8b9a0c36-b6a5-42b0-a483-53e93009ce30.jsonl")
    codex_dir = tmp / "codex-home" / "sessions" / "2026" / "11" / "22"
    codex_dir.mkdir(parents=True)
    shutil.copy(CODEX_SAMPLE, codex_dir / (
        "rollout-2026-11-22T23-24-00-01a20592-dc3e-72b0-bd0f-2803fb0461c4.jsonl"))
    cid = _store_session(env, "claude", "8b9a0c36-b6a5-42b0-a483-53e93009ce30", "/home/user/proj")
    xid = _store_session(env, "codex", "01a20592-dc3e-72b0-bd0f-2803fb0461c4", "/home/user/proj")

    text = _clinvk(env, tmp, "sessions", "show", cid[:6], "--transcript")
    assert text.returncode == 0, text.stderr
    assert "[2026-11-22 23:20:53 UTC] user:\n  first prompt" in text.stdout
    assert "assistant:\n  MOCK CLAUDE REPLY to 2 messages." in text.stdout
    md = _clinvk(env, tmp, "sessions", "show", xid, "--transcript", "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert "### User · 2026-11-22 23:24:00 UTC\n\nfirst codex" in md.stdout
    assert "environment_context" not in md.stdout
    js = _clinvk(env, tmp, "sessions", "show", xid, "--transcript", "--format", "json")
    data = json.loads(js.stdout)
    assert data["backend"] == "codex"
    assert [m["role"] for m in data["messages"]] == ["user", "assistant", "user", "assistant"]
    assert set(data["messages"][0]) >= {"role", "text", "time", "tool_calls"}


def test_show_transcript_gone_or_foreign_is_a_clear_error(shown) -> None:
    env, tmp = shown
    sid = _store_session(env, "claude", "11111111-2222-3333-4444-555555555555", str(tmp))
    gone = _clinvk(env, tmp, "sessions", "show", sid, "--transcript")
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert gone.stderr.startswith("clinvk: error: the claude transcript of session")
    assert "gone" in gone.stderr
    folder = tmp / "home" / ".claude" / "projects" / str(tmp).replace("/", "-").replace("_", "-")
    folder.mkdir(parents=True)
    (folder / "11111111-2222-3333-4444-555555555555.jsonl").write_text('{"format": 2}\n')
    foreign = _clinvk(env, tmp, "sessions", "show", sid, "--transcript")
    assert foreign.returncode == 1 and "Traceback" not in foreign.stderr
    assert "newer version" in foreign.stderr
    bad = _clinvk(env, tmp, "sessions", "show", sid, "--format", "json")
    assert bad.returncode == 2 and "--transcript" in bad.stderr


# --- files the real CLIs write (headless runs through clinvk against the stand-in) ------------


@pytest.mark.e2e
@pytest.mark.timeout(400)
@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_real_cli_store_files(tmp_path: Path, backend: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import realcli
    from standin import StandIn

    exe = realcli.require_cli(backend)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    with StandIn() as api:
        env = realcli.prepare_cli(backend, api, home, workdir=work, cli_path=exe)
        env["CLINVK_HOME"] = str(tmp_path / "clinvk-home")
        first = _clinvk(env, work, "-b", backend, "-o", "json", "hello TOOLTURN MARK:one")
        assert first.returncode == 0, first.stderr
        sid = first_id = json.loads(first.stdout)["session_id"]
        second = _clinvk(env, work, "resume", sid, "-o", "json", "again MARK:two")
        assert second.returncode == 0, second.stderr
        from standin import sum_usage

        # gemini's chat file does not record its model-router requests: compare with the
        # conversation requests (those streaming ones the stand-in marks "main")
        billed = sum_usage([r["billed"] for r in api.requests_for(realcli.API_OF[backend])
                            if backend != "gemini" or r["kind"] == "main"])
    shown = _clinvk(env, work, "sessions", "show", first_id, "--transcript", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    messages = json.loads(shown.stdout)["messages"]
    assert [m["text"] for m in messages if m["role"] == "user"] == [
        "hello TOOLTURN MARK:one", "again MARK:two"]
    assert any(m["tool_calls"] for m in messages if m["role"] == "assistant")
    assert any(m["role"] == "tool" for m in messages)
    assert "MARK:two" in [m for m in messages if m["role"] == "assistant"][-1]["text"]
    # usage read from the transcript: what the API billed (gemini: without the model-router
    # requests, which its chat file does not record)
    adapter = get_adapter(backend)
    [rec] = json.loads(_clinvk(env, work, "sessions", "list", "--json").stdout)
    files = adapter.session_files(rec["backend_session_id"], str(work), env)
    total = adapter.read_transcript(files).total_usage.to_dict()
    assert total == billed
