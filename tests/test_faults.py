"""Faults the real CLIs cannot produce on cue, through clinvk's entry point and a fake CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import FAKE_CLI, assert_clean_error, fake_calls, with_fake_backend

SID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def fake(clinvk, tmp_path):
    return with_fake_backend(clinvk, tmp_path, SID)


def _calls(fake) -> list[dict]:
    return fake_calls(fake)


def test_ok_turn_streams_text_and_records_the_session(fake):
    result = fake.run("-b", "fake", "say", "hi")
    assert result.code == 0, result.err
    assert result.out == "héllo wörld\n"
    [session] = fake.sessions()
    assert session["backend"] == "fake" and session["backend_session_id"] == SID
    assert session["status"] == "active" and session["turn_count"] == 1
    assert session["title"] == "say hi" and session["model"] == "fake-model"
    assert session["token_usage"] == {"input_tokens": 17, "cached_input_tokens": 5,
                                      "cache_creation_input_tokens": 2, "output_tokens": 7,
                                      "reasoning_tokens": 0, "total_tokens": 24}


def test_crash_mid_stream_keeps_a_resumable_session(fake):
    result = fake.run("-b", "fake", "go", env={"FAKE_MODE": "crash"})
    assert_clean_error(result, 1)
    assert "partial answer" in result.out
    [session] = fake.sessions()
    assert session["status"] == "error" and session["backend_session_id"] == SID
    assert session["turns"][0]["exit_code"] == 1


def test_hang_is_stopped_by_timeout_with_124(fake):
    started = time.monotonic()
    result = fake.run("-b", "fake", "--timeout", "1", "go", env={"FAKE_MODE": "hang"})
    assert_clean_error(result, 124, "timed out")
    assert time.monotonic() - started < 30
    [session] = fake.sessions()
    assert session["status"] == "error" and "timed out" in session["error"]
    assert session["backend_session_id"] == SID


def test_timeout_from_environment(fake):
    result = fake.run("-b", "fake", "go", env={"FAKE_MODE": "hang", "CLINVK_TIMEOUT": "1"})
    assert result.code == 124


def test_garbage_lines_are_hidden_unless_verbose(fake):
    quiet = fake.run("-b", "fake", "go", env={"FAKE_MODE": "garbage"})
    assert quiet.code == 0 and quiet.out == "still fine\n"
    assert "not json" not in quiet.err
    loud = fake.run("-v", "-b", "fake", "go", env={"FAKE_MODE": "garbage"})
    assert loud.code == 0 and "not json at all" in loud.err and "running:" in loud.err


def test_fifty_megabytes_pass_through(fake):
    result = fake.run("-b", "fake", "--ephemeral", "go", env={"FAKE_MODE": "huge", "FAKE_MB": "50"})
    assert result.code == 0, result.err[-500:]
    assert len(result.out) >= 50 * 1024 * 1024
    assert set(result.out) == {"x", "\n"}


def test_odd_exit_code_is_a_backend_failure_with_its_message(fake):
    result = fake.run("-b", "fake", "go", env={"FAKE_MODE": "exit", "FAKE_EXIT": "7"})
    assert_clean_error(result, 1, "something went wrong")
    [session] = fake.sessions()
    assert session["status"] == "error" and "something went wrong" in session["error"]


def test_is_error_result_is_a_failure(fake):
    result = fake.run("-b", "fake", "-o", "json", "go", env={"FAKE_MODE": "error"})
    assert_clean_error(result, 1, "API Error: 500 fake failure")
    body = result.json()
    assert body["exit_code"] == 1 and "fake failure" in body["error"]


def test_failed_turn_keeps_earlier_turns(fake):
    assert fake.run("-b", "fake", "first").code == 0
    sid = fake.sessions()[0]["id"]
    assert fake.run("resume", sid[:6], "second", env={"FAKE_MODE": "error"}).code == 1
    [session] = fake.sessions()
    assert session["turn_count"] == 2 and session["status"] == "error"
    assert session["turns"][0]["prompt"] == "first" and session["turns"][0]["exit_code"] == 0
    assert session["backend_session_id"] == SID
    assert session["token_usage"]["input_tokens"] == 34  # both turns reported usage


def _resume_slowly(fake, session_id: str) -> subprocess.Popen:
    """`clinvk resume ID "go on"` on a slow fake backend, returned once the backend runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinvk", "resume", session_id, "go on"], cwd=fake.cwd,
        env={**fake.env, "FAKE_MODE": "slow", "FAKE_STEPS": "10"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    os.set_blocking(proc.stdout.fileno(), True)
    assert proc.stdout.read(len("step 0")) == "step 0"  # the backend runs
    return proc


@pytest.mark.parametrize("how", [("sessions", "delete", "-y"), ("sessions", "clean")])
def test_a_session_removed_while_its_turn_runs_is_written_again(fake, how):
    """A clean (from cron, or the daily one of another command) or a delete that removes
    a session while a turn on it runs: the turn still ends recorded, with the session's
    earlier turns, and says so (it was lost: `no session matches`, exit 2)."""
    assert fake.run("-b", "fake", "old work").code == 0
    [old] = fake.sessions()
    if how[1] == "clean":  # the session looks 60 days old to the clean
        path = next(fake.home.glob("sessions/*/*.json"))
        record = json.loads(path.read_text())
        record["last_used"] = record["created_at"] = record["turns"][0]["at"] = "2020-01-01T00:00:00Z"
        path.write_text(json.dumps(record))
        how = (*how, "--older-than", "30d")
    proc = _resume_slowly(fake, old["id"])
    removed = fake.run(*how, *([old["id"]] if how[1] == "delete" else []))
    assert removed.code == 0 and fake.sessions() == [], removed.err
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert f"session {old['id'][:8]} was deleted while its turn ran" in err
    [session] = fake.sessions()
    assert session["id"] == old["id"] and session["turn_count"] == 2
    assert [t["prompt"] for t in session["turns"]] == ["old work", "go on"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_terminal_closed_or_a_kill_records_the_turn_interrupted(fake, sig):
    """SIGHUP (the terminal or the ssh connection went away) as SIGTERM: the backend is
    stopped and the turn recorded as interrupted, 130 (SIGHUP left a turn-less session)."""
    assert fake.run("-b", "fake", "first").code == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinvk", "-c", "second"], cwd=fake.cwd,
        env={**fake.env, "FAKE_MODE": "slow", "FAKE_STEPS": "50"}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    os.set_blocking(proc.stdout.fileno(), True)
    assert proc.stdout.read(len("step 0")) == "step 0"
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    [session] = fake.sessions()
    assert [t["prompt"] for t in session["turns"]] == ["first", "second"]
    assert session["status"] == "interrupted"


@pytest.mark.parametrize("mode", ["sigint", "ignore-sigint"])
def test_ctrl_c_forwards_and_records_interrupted(fake, mode):
    proc = subprocess.Popen(
        [sys.executable, "-m", "clinvk", "-b", "fake", "go"], cwd=fake.cwd,
        env={**fake.env, "FAKE_MODE": mode}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, text=True,
    )
    os.set_blocking(proc.stdout.fileno(), True)
    assert proc.stdout.read(len("working")) == "working"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "clinvk: error: fake: interrupted" in err
    [session] = fake.sessions()
    assert session["status"] == "interrupted" and session["backend_session_id"] == SID


def test_ephemeral_changes_nothing(fake):
    from clinvk.paths import clean_stamp_path

    fake.hold_daily_clean = False
    clean_stamp_path(fake.home).unlink()  # a daily clean due: --ephemeral must not run it
    before = sorted(p.relative_to(fake.home) for p in fake.home.rglob("*"))
    result = fake.run("-b", "fake", "--ephemeral", "-o", "json", "go")
    assert result.code == 0, result.err
    assert result.json()["session_id"] is None
    assert sorted(p.relative_to(fake.home) for p in fake.home.rglob("*")) == before


STARTS_AND_LOGS = """#!/bin/sh
trap '' INT TERM HUP
echo started >> "$FAKE_LOG"
exec {python} {fake} "$@"
"""


def _break_store(fake, how: str) -> tuple[dict, list[str]]:
    """The environment and the options of a turn on a broken store (the config stays), with
    a backend whose first act is to log that it started (and which then ignores Ctrl-C)."""
    script = fake.cwd / "starts_and_logs.sh"
    script.write_text(STARTS_AND_LOGS.format(python=sys.executable, fake=FAKE_CLI))
    script.chmod(0o755)
    fake.config(f"backends:\n  fake:\n    adapter: claude\n    command: {script}\n"
                f"    env:\n      FAKE_LOG: {json.dumps(str(fake.log))}\n")
    if how == "sessions is a file":
        (fake.home / "sessions").write_text("not a folder")
        return fake.env, []
    home = fake.cwd / "home-file"
    home.write_text("not a folder")
    return {**fake.env, "CLINVK_HOME": str(home)}, ["--config", str(fake.home / "config.yaml")]


@pytest.mark.parametrize("how", ["sessions is a file", "home is a file"])
def test_new_turn_with_a_store_that_cannot_be_opened_fails_before_spawning(fake, how):
    # the store's cheap checks come before the backend is spawned (the index is opened
    # while it starts): one clean error, exit 2 as for every command on such a store, and
    # no backend started (and billed) only to be stopped
    env, options = _break_store(fake, how)
    result = fake.run(*options, "-b", "fake", "go", env=env)
    assert_clean_error(result, 2, "not a folder")
    assert not fake.log.exists(), "the backend was started"
    if how == "sessions is a file":
        assert (fake.home / "sessions").read_text() == "not a folder"


@pytest.mark.parametrize("how", ["sessions is a file", "home is a file"])
def test_interactive_session_with_a_broken_store_fails_before_spawning(fake, how):
    import pexpect

    env, options = _break_store(fake, how)
    child = pexpect.spawn(sys.executable, ["-m", "clinvk", *options, "-b", "fake"], cwd=str(fake.cwd),
                          env=env, encoding="utf-8", timeout=60)
    output = child.read()
    child.close()
    assert child.exitstatus == 2, output
    assert "clinvk: error:" in output and "not a folder" in output and "Traceback" not in output
    assert not fake.log.exists(), "the backend was started"


def test_interactive_session_in_a_directory_whose_path_is_not_utf8_is_refused(fake):
    import pexpect

    odd = os.path.join(os.fsencode(fake.cwd), b"d\xff")
    os.mkdir(odd)
    child = pexpect.spawn(sys.executable, ["-m", "clinvk", "-b", "fake"], cwd=odd,
                          env=fake.env, encoding="utf-8", timeout=60)
    output = child.read()
    child.close()
    assert child.exitstatus == 2, output
    assert "path is not UTF-8" in output and "Traceback" not in output
    assert not fake.log.exists(), "the backend was started"


WAITS_FOR_STORE = """
import json, os, sys, time
sessions = os.path.join(os.environ["CLINVK_HOME"], "sessions")
for _ in range(3000):  # a bound against a hang, not a timing check
    if os.path.isdir(sessions):
        break
    time.sleep(0.01)
else:
    sys.exit("the store was not opened while the backend started")
for line in ({"type": "system", "subtype": "init", "session_id": SID, "model": "m"},
             {"type": "result", "subtype": "success", "is_error": False, "session_id": SID,
              "result": "ok", "usage": {"input_tokens": 1, "output_tokens": 1}}):
    print(json.dumps(line), flush=True)
"""


def test_store_is_opened_while_a_new_sessions_backend_starts(clinvk, tmp_path):
    # A backend that says nothing until the store exists: clinvk must open the store once
    # the backend runs, not only when the backend's first line (its session id) arrives.
    script = tmp_path / "waits_for_store.py"
    script.write_text(f"#!{sys.executable}\nSID = {SID!r}\n{WAITS_FOR_STORE}")
    script.chmod(0o755)
    clinvk.config(f"backends:\n  waiting:\n    adapter: claude\n    command: {script}\n")
    result = clinvk.run("-b", "waiting", "go")
    assert result.code == 0, result.err
    [session] = clinvk.sessions()
    assert session["backend_session_id"] == SID and session["status"] == "active"


def test_piped_stdin_is_added_to_the_prompt(fake):
    result = fake.run("-b", "fake", "review", "this", stdin="line one\nline two\n")
    assert result.code == 0
    argv = _calls(fake)[0]["argv"]
    assert any("review this\n\nline one\nline two" in a for a in argv), argv
    only_stdin = fake.run("-b", "fake", stdin="from stdin only\n")
    assert only_stdin.code == 0
    assert any(a.endswith("from stdin only") for a in _calls(fake)[1]["argv"])


def test_no_prompt_without_terminal_is_a_usage_error(fake):
    assert_clean_error(fake.run("-b", "fake"), 2, "no prompt")


def test_resume_runs_in_the_sessions_directory(fake, tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    assert fake.run("-b", "fake", "one", cwd=project).code == 0
    assert fake.run("resume", "--last", "two", cwd=elsewhere).code == 0
    assert fake.run("-c", "three", cwd=elsewhere).code == 0
    calls = _calls(fake)
    assert [c["cwd"] for c in calls] == [str(project)] * 3
    assert calls[1]["argv"][calls[1]["argv"].index("--resume") + 1] == SID
    [session] = fake.sessions()
    assert session["turn_count"] == 3


def test_here_and_continue_pick_by_directory(fake, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert fake.run("-b", "fake", "in a", cwd=a).code == 0
    assert fake.run("-b", "fake", "in b", cwd=b).code == 0
    assert fake.run("-c", "--here", "again a", cwd=a).code == 0
    by_title = {s["title"]: s for s in fake.sessions()}
    assert by_title["in a"]["turn_count"] == 2 and by_title["in b"]["turn_count"] == 1
    c = tmp_path / "c"
    c.mkdir()
    assert_clean_error(fake.run("-c", "--here", "x", cwd=c), 2, "no session to continue")
    assert_clean_error(fake.run("resume", "--here", "x", cwd=c), 2, "no resumable session")


def test_vanished_working_dir_is_exit_2(fake, tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    assert fake.run("-b", "fake", "one", cwd=gone).code == 0
    gone.rmdir()
    assert_clean_error(fake.run("resume", "--last", "two"), 2, "no longer exists")


def test_stream_json_events(fake):
    result = fake.run("-b", "fake", "-o", "stream-json", "go")
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[0]["type"] == "start" and events[0]["backend"] == "fake"
    assert [e["text"] for e in events if e["type"] == "text"] == ["héllo ", "wörld"]
    assert events[-1]["type"] == "done" and events[-1]["content"] == ""
    assert events[-1]["session_id"] == events[0]["session_id"] == fake.sessions()[0]["id"]
    assert any(e["type"] == "usage" for e in events)


def test_json_output_fields(fake):
    body = fake.run("-b", "fake", "-o", "json", "go").json()
    assert set(body) == {"session_id", "backend", "backend_session_id", "model", "content",
                         "usage", "cost_usd", "duration_ms", "exit_code", "error"}
    assert body["content"] == "héllo wörld" and body["backend_session_id"] == SID
    assert body["usage"]["total_tokens"] == 24 and body["cost_usd"] == 0.001


def test_auto_resume_and_new(fake):
    fake.config(fake.home.joinpath("config.yaml").read_text() + "session:\n  auto_resume: true\n")
    assert fake.run("-b", "fake", "one").code == 0
    assert fake.run("two").code == 0  # continues: same directory, same backend
    assert fake.run("--new", "-b", "fake", "three").code == 0
    turns = sorted(s["turn_count"] for s in fake.sessions())
    assert turns == [1, 2]
    # a title or a tag names a new session: one is started (they were dropped silently)
    assert fake.run("-b", "fake", "--title", "Named", "four").code == 0
    assert fake.run("-b", "fake", "-t", "tagged", "five").code == 0
    sessions = fake.sessions()
    assert sorted(s["turn_count"] for s in sessions) == [1, 1, 1, 2]
    assert {"Named"} <= {s["title"] for s in sessions} and any(s["tags"] == ["tagged"] for s in sessions)


@pytest.mark.parametrize("extra", [["--title", "T"], ["-t", "tag"], ["--title="]])
def test_continue_with_a_title_or_a_tag_is_a_usage_error(fake, extra):
    """-c continues a session: --title and -t, which name a new one, were dropped silently."""
    assert fake.run("-b", "fake", "one").code == 0
    before = fake.sessions()
    result = fake.run("-c", *extra, "two")
    assert_clean_error(result, 2, "--title and -t name a new session")
    assert fake.sessions() == before


def test_tags_title_and_default_tags(fake):
    fake.config(fake.home.joinpath("config.yaml").read_text()
                + "session:\n  default_tags: [team]\n")
    assert fake.run("-b", "fake", "--title", "My title", "-t", "x", "-t", "y", "go").code == 0
    [session] = fake.sessions()
    assert session["title"] == "My title" and session["tags"] == ["team", "x", "y"]


def test_store_prompts_false(fake):
    fake.config(fake.home.joinpath("config.yaml").read_text()
                + "session:\n  store_prompts: false\n  store_token_usage: false\n")
    assert fake.run("-b", "fake", "secret prompt").code == 0
    text = next(fake.home.joinpath("sessions").rglob("*.json")).read_text()
    assert "secret prompt" not in text and "(prompt not stored)" in text
    assert "token_usage" not in json.loads(text)


@pytest.mark.parametrize("fmt", ["text", "stream-json", "json"])
def test_a_reader_that_goes_away_mid_reply_leaves_the_turn_recorded(fake, fmt):
    """`clinvk ... | head -c0`: exit 0 without a word, and the turn (a continued one too)
    is recorded whole, usage included (text and stream-json lost it: their writes during
    the run stopped it)."""
    for prompt in ("first", "second"):
        args = ["-b", "fake", "-o", fmt, *(["-c"] if prompt == "second" else []), prompt]
        proc = subprocess.Popen([sys.executable, "-m", "clinvk", *args], cwd=fake.cwd,
                                env={**fake.env, "FAKE_MODE": "slow"}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        proc.stdout.close()  # the reader is gone before the first word
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0 and err == "", err
    [session] = fake.sessions()
    assert [t["prompt"] for t in session["turns"]] == ["first", "second"]
    assert session["status"] == "active" and session["token_usage"]["input_tokens"] == 34


def test_a_reply_that_cannot_be_written_is_an_error_and_the_turn_is_kept(fake):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "clinvk", "-b", "fake", "hi"],
                              cwd=fake.cwd, env=fake.env, stdout=full, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True, timeout=60)
    [session] = fake.sessions()
    assert done.returncode == 1 and done.stderr == (
        "clinvk: error: cannot write the turn's output ([Errno 28] No space left on "
        f"device); the turn is recorded in session {session['id'][:8]}\n")
    assert session["turn_count"] == 1 and session["token_usage"]["total_tokens"] > 0
    ascii_out = fake.run_process("-b", "fake", "hi", env={"PYTHONIOENCODING": "ascii"})
    assert ascii_out.code == 1 and "'ascii' codec can't encode" in ascii_out.err  # "héllo"
    assert "the turn is recorded in session" in ascii_out.err and len(fake.sessions()) == 2
    closed = subprocess.run([sys.executable, "-m", "clinvk", "-b", "fake", "hi"], cwd=fake.cwd,
                            env=fake.env, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=60,
                            preexec_fn=lambda: os.close(1))  # `clinvk ... >&-`
    assert closed.returncode == 0 and "Traceback" not in closed.stderr, closed.stderr
    assert len(fake.sessions()) == 3


@pytest.mark.parametrize("damaged_folder_taken", [False, True])
def test_a_session_file_damaged_while_its_turn_runs_is_set_aside_and_written_again(
        fake, damaged_folder_taken):
    """A hand edit gone wrong while a turn on the session runs: the turn is recorded with the
    session's earlier turns, the damaged file moved to $CLINVK_HOME/damaged/, or, when that
    cannot be (a file named `damaged`), beside it under a dot name no listing reads (the
    turn was lost: the write met the damaged file, `already exists`)."""
    assert fake.run("-b", "fake", "old work").code == 0
    [old] = fake.sessions()
    path = next(fake.home.glob("sessions/*/*.json"))
    if damaged_folder_taken:
        (fake.home / "damaged").write_text("not a folder")
    proc = _resume_slowly(fake, old["id"])
    path.write_text('{"id": "half an edit')
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    aside = (path.parent / f".{path.name}.damaged" if damaged_folder_taken
             else fake.home / "damaged" / path.name)
    assert f"session {old['id'][:8]}'s file was damaged while its turn ran (kept as {aside})" in err
    assert aside.read_text() == '{"id": "half an edit'
    [session] = fake.sessions()
    assert session["id"] == old["id"] and session["turn_count"] == 2
    assert [t["prompt"] for t in session["turns"]] == ["old work", "go on"]
    listing = fake.run("sessions", "list")
    assert listing.code == 0 and "warning" not in listing.err, listing.err


def test_usage_and_cost_beyond_a_records_bounds_leave_the_turn_recorded(fake):
    """A backend reporting 2·10**12 tokens and a cost of 1e308: the turn is recorded without
    them, with a warning, and -o json prints its object (the turn was lost: `refusing to
    write invalid session`, exit 1, nothing on stdout)."""
    assert fake.run("-b", "fake", "first").code == 0
    result = fake.run("-o", "json", "-c", "second", env={"FAKE_MODE": "big-usage"})
    assert result.code == 0, result.err
    assert "beyond what a session record holds" in result.err
    body = json.loads(result.out)
    assert body["usage"]["input_tokens"] == 2 * 10**12 and body["exit_code"] == 0
    [session] = fake.sessions()
    assert session["turn_count"] == 2 and session["turns"][1]["prompt"] == "second"
    assert session["turns"][1]["usage"] is None
    assert session["token_usage"]["input_tokens"] < 10**6 and session["cost_usd"] < 1


@pytest.mark.parametrize("fmt", ["json", "stream-json"])
def test_a_lone_surrogate_in_the_backends_error_still_gives_the_json_end(fake, fmt):
    """An error result whose text holds a lone surrogate: -o json prints its object and
    stream-json its `error` and `done` events, the surrogate as U+FFFD (nothing was printed:
    the write failed on the surrogate)."""
    result = fake.run("-o", fmt, "-b", "fake", "go", env={"FAKE_MODE": "surrogate-error"})
    assert result.code == 1, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    done = events[-1]
    assert done["error"] == "err \ufffd x" and done["exit_code"] == 1
    if fmt == "stream-json":
        assert done["type"] == "done"
        assert {"type": "error", "message": "err \ufffd x"}.items() <= events[-2].items()
    [session] = fake.sessions()
    assert session["status"] == "error" and session["turn_count"] == 1
