"""Interactive sessions: clinvk driven in a pty (pexpect) with no prompt, in front of fake
interactive CLIs that write their stores like the real ones (tests/fakes/fake_tui.py),
and in front of the real claude TUI against the stand-in API."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_TUI = REPO / "tests" / "fakes" / "fake_tui.py"

pytestmark = pytest.mark.timeout(120)


class Term:
    """clinvk homes, fake backends, and clinvk run in a pty of its own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.home = tmp / "home"
        self.home.mkdir()
        self.clinvk_home = tmp / "clinvk-home"
        self.clinvk_home.mkdir()
        self.work = tmp / "work"
        self.work.mkdir()
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
                    "CLINVK_HOME": str(self.clinvk_home), "LANG": "C.UTF-8", "TERM": "xterm"}
        lines = ["backends:"]
        for flavor in ("claude", "codex", "gemini"):
            script = tmp / f"fake-{flavor}"
            script.write_text(f'#!/bin/sh\nexec {sys.executable} {FAKE_TUI} {flavor} "$@"\n')
            script.chmod(0o755)
            lines += [f"  {flavor}:", f"    command: {script}"]
        (self.clinvk_home / "config.yaml").write_text("\n".join(lines) + "\n")

    def spawn(self, *args: str, cwd: Path | None = None, env: dict | None = None,
              dimensions=(24, 80)) -> pexpect.spawn:
        return pexpect.spawn(sys.executable, ["-m", "clinvk", *args], cwd=str(cwd or self.work),
                             env={**self.env, **(env or {})}, encoding="utf-8",
                             dimensions=dimensions, timeout=15)

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "clinvk", *args], cwd=str(cwd or self.work),
                              env=self.env, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)

    def sessions(self) -> list[dict]:
        done = self.run("sessions", "list", "--all", "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def term(tmp_path: Path) -> Term:
    return Term(tmp_path)


def say(child: pexpect.spawn, text: str) -> None:
    child.expect_exact("> ")
    child.send(text + "\r")
    child.expect_exact(f"FAKE REPLY to: {text}")


def finish(child: pexpect.spawn, command: str = "/exit") -> int:
    child.expect_exact("> ")
    child.send(command + "\r")
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus if child.signalstatus is None else 128 + child.signalstatus


def one_session(term: Term, backend: str, prompt: str = "first") -> dict:
    """A new interactive session on `backend` with one typed prompt; its record."""
    child = term.spawn("-b", backend)
    say(child, prompt)
    assert finish(child) == 0
    [record] = term.sessions()
    return record


def usage(inp, cached, creation, out, reasoning) -> dict[str, int]:
    return {"input_tokens": inp, "cached_input_tokens": cached,
            "cache_creation_input_tokens": creation, "output_tokens": out,
            "reasoning_tokens": reasoning, "total_tokens": inp + out}


CLAUDE_TURN = usage(160, 40, 20, 7, 0)  # 100 uncached + 40 cache read + 20 cache write
CODEX_TURN = usage(200, 50, 0, 9, 3)
GEMINI_TURN = usage(300, 60, 0, 15, 4)  # 11 candidates + 4 thoughts
TURN_USAGE = {"claude": CLAUDE_TURN, "codex": CODEX_TURN, "gemini": GEMINI_TURN}


def times(u: dict[str, int], n: int) -> dict[str, int]:
    return {k: v * n for k, v in u.items()}


# --- pass-through -------------------------------------------------------------------------


def test_claude_like_session_is_recorded_with_id_chosen_up_front(term: Term) -> None:
    child = term.spawn("-b", "claude")
    child.expect_exact("fake claude ready")
    child.expect_exact("24x80")  # the pty is sized like the terminal
    say(child, "hello there")
    say(child, "second question")
    assert finish(child) == 0
    # clinvk added no output of its own
    assert "clinvk" not in child.before
    [rec] = term.sessions()
    assert rec["backend"] == "claude" and rec["title"] == "hello there"
    assert rec["turn_count"] == 2 and rec["status"] == "active"
    assert [t["prompt"] for t in rec["turns"]] == ["hello there", "second question"]
    assert rec["token_usage"] == times(CLAUDE_TURN, 2)  # repeated lines of a message count once
    assert rec["model"] == "claude-fake-1"
    project = term.home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(term.work))
    assert (project / f"{rec['backend_session_id']}.jsonl").is_file()


def test_colours_and_keys_pass_through_and_resize_is_forwarded(term: Term) -> None:
    child = term.spawn("-b", "claude", dimensions=(24, 80))
    child.expect_exact("\x1b[1mfake claude ready\x1b[0m")  # colours unchanged
    say(child, "abc")
    child.expect_exact("> ")
    child.setwinsize(40, 132)
    child.expect_exact("[resized 40x132]")
    child.send("/size\r")
    child.expect_exact("size 40x132")
    child.send("typo\x7f\x7fpo\r")  # backspace handled by the backend, not clinvk
    child.expect_exact("FAKE REPLY to: typo")
    assert finish(child) == 0
    [rec] = term.sessions()
    assert [t["prompt"] for t in rec["turns"]] == ["abc", "typo"]


def test_ctrl_c_goes_to_the_backend_and_the_exit_code_is_its_own(term: Term) -> None:
    child = term.spawn("-b", "claude")
    say(child, "working on it")
    child.expect_exact("> ")
    child.send("\x03")
    child.expect_exact("[interrupt]")  # the backend saw Ctrl-C; clinvk is still there
    assert child.isalive()
    say(child, "still here")
    child.expect_exact("> ")
    child.send("\x03\x03")  # the fake exits with 130 on a second Ctrl-C
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    [rec] = term.sessions()
    assert rec["status"] == "interrupted" and rec["turn_count"] == 2


def test_exit_code_of_the_backend_is_clinvks(term: Term) -> None:
    child = term.spawn("-b", "codex")
    say(child, "fail afterwards")
    assert finish(child, "/exit 3") == 3
    [rec] = term.sessions()
    assert rec["status"] == "error" and rec["turns"][-1]["exit_code"] == 3


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_ctrl_z_suspends_like_a_job_and_continues(term: Term) -> None:
    child = term.spawn("-b", "gemini")
    say(child, "before suspend")
    child.expect_exact("> ")
    child.send("\x1a")
    deadline = time.monotonic() + 10
    while _state(child.pid) != "T" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _state(child.pid) == "T"  # clinvk stopped itself, as a shell job does
    os.kill(child.pid, signal.SIGCONT)  # what `fg` does
    child.send("after resume\r")
    child.expect_exact("FAKE REPLY to: after resume")
    assert finish(child) == 0
    [rec] = term.sessions()
    assert [t["prompt"] for t in rec["turns"]] == ["before suspend", "after resume"]


# --- capture: finding the session, nothing typed, ephemeral -------------------------------


@pytest.mark.parametrize("backend", ["codex", "gemini"])
def test_session_file_of_this_directory_is_found(term: Term, backend: str) -> None:
    other = term.tmp / "elsewhere"
    other.mkdir()
    # another terminal creates a session in another directory during the run
    child = term.spawn("-b", backend, env={"FAKE_TUI_OTHER_DIR": str(other)})
    say(child, f"hello {backend}")
    assert finish(child) == 0
    found = term.sessions()  # the other terminal's conversation is adopted (sessions adopt)
    [rec] = [r for r in found if r["origin"] == "clinvk"]
    assert [r["working_dir"] for r in found if r["origin"] == "adopted"] == [str(other)]
    assert rec["backend"] == backend and rec["working_dir"] == str(term.work)
    assert rec["title"] == f"hello {backend}" and rec["turn_count"] == 1
    assert rec["token_usage"] == TURN_USAGE[backend]
    shown = term.run("sessions", "show", rec["id"][:8], "--transcript", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    texts = [m["text"] for m in json.loads(shown.stdout)["messages"]]
    assert f"hello {backend}" in texts and "other hello" not in " ".join(texts)


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_nothing_typed_records_nothing(term: Term, backend: str) -> None:
    child = term.spawn("-b", backend)
    child.expect_exact(f"fake {backend} ready")
    assert finish(child) == 0
    assert term.sessions() == []


def test_ephemeral_records_nothing(term: Term) -> None:
    before = sorted(p.relative_to(term.clinvk_home) for p in term.clinvk_home.rglob("*"))
    child = term.spawn("--ephemeral", "-b", "claude")
    say(child, "secret")
    assert finish(child) == 0
    after = sorted(p.relative_to(term.clinvk_home) for p in term.clinvk_home.rglob("*"))
    assert after == before


def test_dry_run_prints_the_interactive_command(term: Term) -> None:
    child = term.spawn("--dry-run", "-b", "codex", "-m", "gpt-x")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "fake-codex -m gpt-x" in child.before
    assert term.sessions() == []


# --- interactive resume --------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_resume_adds_turns_and_usage_to_the_same_session(term: Term, backend: str) -> None:
    rec = one_session(term, backend)
    elsewhere = term.tmp / "other-cwd"
    elsewhere.mkdir()
    # -c from another directory: the backend runs in the session's own directory
    child = term.spawn("-c", cwd=elsewhere)
    say(child, "second")
    say(child, "third")
    assert finish(child) == 0
    child = term.spawn("resume", rec["id"][:6])
    say(child, "fourth")
    assert finish(child) == 0
    child = term.spawn("resume", "--last")
    child.expect_exact(f"fake {backend} ready")
    assert finish(child) == 0  # nothing typed: nothing added
    [after] = term.sessions()
    assert after["id"] == rec["id"]
    assert after["backend_session_id"] == rec["backend_session_id"]
    assert [t["prompt"] for t in after["turns"]] == ["first", "second", "third", "fourth"]
    assert after["token_usage"] == times(TURN_USAGE[backend], 4)
    assert all(t["usage"] == TURN_USAGE[backend] for t in after["turns"])


# clinvk with an audit hook (Python's own, sys.addaudithook) that notes every exclusive
# flock of the store's lock file: how often a run took the lock, the store left as it is
COUNTING_LOCKS = r"""
import fcntl, os, sys
def hook(event, args):
    if event == "fcntl.flock" and args[1] & fcntl.LOCK_EX:
        try:
            target = os.readlink(f"/proc/self/fd/{args[0]}")
        except OSError:
            return
        if target.endswith("store.lock"):
            with open(os.environ["LOCK_LOG"], "a") as fh:
                fh.write(target + "\n")
sys.addaudithook(hook)
from clinvk.launch import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("backend", ["claude", "codex"])
def test_an_interactive_run_records_its_turns_in_one_locked_write(term: Term, backend: str) -> None:
    """Several turns typed in one run: the store's lock is taken once (creating the session,
    and again adding turns to it on resume), not once per turn."""
    with open(term.clinvk_home / "config.yaml", "a") as fh:
        fh.write("session:\n  auto_clean: false\n")  # the daily clean takes the lock too
    log = term.tmp / "locks.log"

    def run(*args: str, prompts: list[str]) -> int:
        child = pexpect.spawn(sys.executable, ["-c", COUNTING_LOCKS, *args], cwd=str(term.work),
                              env={**term.env, "LOCK_LOG": str(log)}, encoding="utf-8",
                              dimensions=(24, 80), timeout=15)
        for prompt in prompts:
            say(child, prompt)
        assert finish(child) == 0
        taken = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return len(taken)

    assert run("-b", backend, prompts=["one", "two", "three"]) == 1
    assert run("resume", "--last", prompts=["four", "five"]) == 1
    [rec] = term.sessions()
    assert [t["prompt"] for t in rec["turns"]] == ["one", "two", "three", "four", "five"]
    assert rec["token_usage"] == times(TURN_USAGE[backend], 5)


def test_headless_then_interactive_then_transcript(term: Term) -> None:
    child = term.spawn("-b", "gemini")
    say(child, "one")
    assert finish(child) == 0
    [rec] = term.sessions()
    text = term.run("sessions", "show", rec["id"], "--transcript")
    assert text.returncode == 0, text.stderr
    assert "user:" in text.stdout and "  one" in text.stdout
    assert "FAKE REPLY to: one" in text.stdout
    md = term.run("sessions", "show", rec["id"], "--transcript", "--format", "markdown")
    assert "### User" in md.stdout and "### Assistant" in md.stdout


# --- interactive fork ------------------------------------------------------------------------


def _store_files(term: Term) -> list[Path]:
    return sorted(p for p in term.home.rglob("*.json*") if p.is_file())


def _transcript(term: Term, session_id: str) -> str:
    done = term.run("sessions", "show", session_id, "--transcript")
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_fork_without_prompt_opens_the_copy_interactively(term: Term, backend: str) -> None:
    original = one_session(term, backend)
    child = term.spawn("resume", original["id"][:8], "--fork")
    say(child, "forked turn")
    assert finish(child) == 0
    fork = next(r for r in term.sessions() if r["id"] != original["id"])
    assert fork["parent_id"] == original["id"] and fork["backend"] == backend
    assert fork["backend_session_id"] != original["backend_session_id"]
    # the copy's own turns only
    assert [t["prompt"] for t in fork["turns"]] == ["forked turn"], json.dumps(fork, indent=1)
    assert fork["token_usage"] == TURN_USAGE[backend]
    assert fork["title"] == "forked turn"
    fork_text = _transcript(term, fork["id"])
    assert "first" in fork_text and "forked turn" in fork_text  # it carries the conversation
    child = term.spawn("resume", original["id"])
    say(child, "original again")
    assert finish(child) == 0
    after = next(r for r in term.sessions() if r["id"] == original["id"])
    assert [t["prompt"] for t in after["turns"]] == ["first", "original again"]
    assert "forked turn" not in _transcript(term, original["id"])
    assert "original again" not in _transcript(term, fork["id"])


@pytest.mark.parametrize("backend", ["claude", "codex", "gemini"])
def test_fork_with_nothing_typed_leaves_no_session_and_no_copy(term: Term, backend: str) -> None:
    one_session(term, backend)
    before = _store_files(term)
    child = term.spawn("resume", "--last", "--fork")
    child.expect_exact(f"fake {backend} ready")
    assert finish(child) == 0
    # the fake claude's copy (see below) is a conversation of claude's store: adopted
    assert len([r for r in term.sessions() if r["origin"] == "clinvk"]) == 1
    if backend != "claude":  # the fake claude copies at start, as a real one would not
        assert _store_files(term) == before


@pytest.mark.parametrize(("old", "new"), [("claude", "gemini"), ("gemini", "codex"),
                                          ("codex", "claude")])
def test_hand_over_without_prompt_opens_the_new_backend_with_the_conversation(
        term: Term, old: str, new: str) -> None:
    original = one_session(term, old, "first question")
    child = term.spawn("resume", "--last", "--to", new)
    child.expect_exact(f"fake {new} ready")
    child.expect_exact("FAKE REPLY to the first message")  # sent on the command line
    say(child, "next question")
    assert finish(child) == 0
    handed = next(r for r in term.sessions() if r["id"] != original["id"])
    assert handed["backend"] == new and handed["parent_id"] == original["id"]
    assert handed["metadata"] == {"handed_from": old}
    assert handed["title"] == original["title"] == "first question"
    assert [t["prompt"] for t in handed["turns"]] == [
        f"(the conversation, handed over from {old})", "next question"]
    assert handed["token_usage"] == times(TURN_USAGE[new], 2)
    text = _transcript(term, handed["id"])
    assert "<previous_conversation>" in text and "first question" in text
    assert "FAKE REPLY to: first question" in text  # the old backend's reply went along
    assert next(r for r in term.sessions() if r["id"] == original["id"])["turn_count"] == 1


# --- the real claude TUI against the stand-in API ------------------------------------------


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.parametrize("version", [None, "2.1.197"], ids=["pinned", "2.1.197"])
def test_real_claude_tui_session_is_recorded(tmp_path: Path, version: str | None) -> None:
    """Every request billed is recorded, also the title requests claude 2.1.197's TUI makes
    for each prompt of a new session, which no transcript line holds (the test's claude
    runs as a user's does: no CLAUDE_CODE_DISABLE_TERMINAL_TITLE)."""
    sys.path.insert(0, str(REPO / "tests"))
    import realcli
    from standin import StandIn

    exe = realcli.require_claude(version)
    home = tmp_path / "home"
    work = tmp_path / "work"
    work.mkdir()
    clinvk_home = tmp_path / "clinvk-home"
    with StandIn() as api:
        env = realcli.prepare_cli("claude", api, home, workdir=work, cli_path=exe)
        env.pop("NO_COLOR", None)
        env["CLINVK_HOME"] = str(clinvk_home)
        clinvk_home.mkdir()
        (clinvk_home / "config.yaml").write_text(f"backends:\n  claude:\n    command: {exe}\n")

        def spawn(*args: str) -> pexpect.spawn:
            return pexpect.spawn(sys.executable, ["-m", "clinvk", *args], cwd=str(work), env=env,
                                 encoding="utf-8", dimensions=(40, 120), timeout=60)

        child = spawn()
        _claude_ready(child)
        _claude_turn(child, "hello MARK:tui1", "MARK:tui1")
        child.setwinsize(30, 100)  # resize while it runs
        _claude_turn(child, "more MARK:tui2", "MARK:tui2")
        code = _claude_exit(child)
        billed = api.billed_total("anthropic")
        typed = {"hello MARK:tui1", "more MARK:tui2"}
        titles = [r for r in api.requests_for("anthropic") if r["user_texts"][-1] not in typed]
        if version == "2.1.197":  # what this test is about: requests in no transcript line
            assert titles, [r["user_texts"][-1][:80] for r in api.requests_for("anthropic")]
        assert code == 0
        sessions = json.loads(subprocess.run(
            [sys.executable, "-m", "clinvk", "sessions", "list", "--json"], cwd=str(work),
            env=env, capture_output=True, text=True, timeout=60).stdout)
        assert len(sessions) == 1
        rec = sessions[0]
        assert rec["title"] == "hello MARK:tui1" and rec["turn_count"] == 2
        assert rec["backend_session_id"]
        assert rec["token_usage"] == billed

        mark = api.mark()
        child = spawn("-c")
        _claude_ready(child)
        _claude_turn(child, "again MARK:tui3", "MARK:tui3")
        assert _claude_exit(child) == 0
        billed_resume = api.billed_total("anthropic", since=mark)
        [after] = json.loads(subprocess.run(
            [sys.executable, "-m", "clinvk", "sessions", "list", "--json"], cwd=str(work),
            env=env, capture_output=True, text=True, timeout=60).stdout)
        assert after["id"] == rec["id"] and after["turn_count"] == 3
        assert after["turns"][-1]["usage"] == billed_resume
        shown = subprocess.run(
            [sys.executable, "-m", "clinvk", "sessions", "show", rec["id"], "--transcript",
             "--format", "json"], cwd=str(work), env=env, capture_output=True, text=True,
            timeout=60)
        messages = json.loads(shown.stdout)["messages"]
        assert [m["text"] for m in messages if m["role"] == "user"] == [
            "hello MARK:tui1", "more MARK:tui2", "again MARK:tui3"]

        mark = api.mark()  # an interactive fork: claude's --fork-session under clinvk's id
        child = spawn("resume", rec["id"][:8], "--fork")
        _claude_ready(child)
        _claude_turn(child, "fork MARK:tui4", "MARK:tui4")
        assert _claude_exit(child) == 0
        [request] = [r for r in api.requests[mark:] if r["api"] == "anthropic"
                     and any("MARK:tui4" in t for t in r["user_texts"])]
        assert any("MARK:tui1" in t for t in request["user_texts"])  # it carried the history
        listed = json.loads(subprocess.run(
            [sys.executable, "-m", "clinvk", "sessions", "list", "--json"], cwd=str(work),
            env=env, capture_output=True, text=True, timeout=60).stdout)
        fork = next(r for r in listed if r["id"] != rec["id"])
        assert fork["parent_id"] == rec["id"] and fork["turn_count"] == 1
        assert fork["backend_session_id"] != rec["backend_session_id"]
        assert fork["token_usage"] == api.billed_total("anthropic", since=mark)
        assert next(r for r in listed if r["id"] == rec["id"])["turn_count"] == 3


_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")


def wait_screen(child: pexpect.spawn, needle: str, timeout: float = 90) -> None:
    """Read until `needle` has been drawn. A TUI moves the cursor instead of writing spaces,
    so the output is compared without escape sequences and without whitespace."""
    want = "".join(needle.split())
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            seen += child.read_nonblocking(65536, timeout=0.5)
        except pexpect.TIMEOUT:
            continue
        if want in "".join(_ANSI.sub("", seen).split()):
            return
    raise AssertionError(f"{needle!r} not shown; screen ends with {_ANSI.sub('', seen)[-500:]!r}")


def _claude_ready(child: pexpect.spawn) -> None:
    wait_screen(child, "Claude Code")  # the banner, drawn once the TUI starts
    time.sleep(1.5)


def _claude_turn(child: pexpect.spawn, prompt: str, mark: str) -> None:
    time.sleep(1.5)  # let the TUI settle before typing
    child.send(prompt)
    time.sleep(0.5)
    for _ in range(4):  # a TUI still starting up may drop the Enter; an extra one is ignored
        child.send("\r")
        try:
            wait_screen(child, f"messages. {mark}", timeout=20)  # "MOCK CLAUDE REPLY to N …"
            return
        except AssertionError:
            continue
    wait_screen(child, f"messages. {mark}")


def _claude_exit(child: pexpect.spawn) -> int:
    time.sleep(1)
    child.send("\x03")
    time.sleep(0.3)
    child.send("\x03")  # Ctrl-C twice: claude exits
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    return child.exitstatus if child.signalstatus is None else 128 + child.signalstatus


REPLY_TEXT = {"codex": "user messages. {mark}", "gemini": "contents. {mark}"}


@pytest.mark.e2e
@pytest.mark.timeout(240)
@pytest.mark.parametrize("backend", ["codex", "gemini"])
def test_real_codex_and_gemini_tuis_are_recorded(tmp_path: Path, backend: str) -> None:
    sys.path.insert(0, str(REPO / "tests"))
    import realcli
    from standin import StandIn, sum_usage

    exe = realcli.require_cli(backend)
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    clinvk_home = tmp_path / "clinvk-home"
    clinvk_home.mkdir()
    with StandIn() as api:
        env = realcli.prepare_cli(backend, api, home, workdir=work, cli_path=exe)
        env["CLINVK_HOME"] = str(clinvk_home)
        (clinvk_home / "config.yaml").write_text(f"backends:\n  {backend}:\n    command: {exe}\n")
        # codec_errors: a chunk read from the pty may end inside a multi-byte character
        child = pexpect.spawn(sys.executable, ["-m", "clinvk", "-b", backend], cwd=str(work),
                              env=env, encoding="utf-8", codec_errors="replace",
                              dimensions=(40, 120), timeout=60)
        if backend == "gemini":  # its input box is drawn once it is ready for typing
            wait_screen(child, "Type your message")
            time.sleep(1.5)
        else:
            time.sleep(6)  # startup
        child.send("hello MARK:tui1")
        time.sleep(0.5)
        child.send("\r")
        wait_screen(child, REPLY_TEXT[backend].format(mark="MARK:tui1"))
        time.sleep(3)  # let the TUI write its store before quitting
        # Ctrl-C twice in a row quits both TUIs. (A third one, once the TUI has gone, reaches
        # clinvk itself, which ignores it while it records: see test_a_late_ctrl_c_...)
        child.send("\x03")
        time.sleep(0.4)
        child.send("\x03")
        child.expect(pexpect.EOF, timeout=30)
        child.close()
        # every request billed, gemini's model-router request included (from its telemetry)
        requests = api.requests_for(realcli.API_OF[backend])
        billed = sum_usage([r["billed"] for r in requests])
    done = subprocess.run([sys.executable, "-m", "clinvk", "sessions", "list", "--json"],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=60)
    [rec] = json.loads(done.stdout)
    assert rec["backend"] == backend and rec["title"] == "hello MARK:tui1"
    assert rec["turn_count"] == 1 and rec["backend_session_id"]
    if backend == "gemini":
        assert {r["kind"] for r in requests} == {"main", "utility"}  # the router was called
    assert rec["token_usage"] == billed


def _codex_turn(child: pexpect.spawn, prompt: str, mark: str) -> None:
    child.send(prompt)
    time.sleep(0.5)
    child.send("\r")
    try:
        wait_screen(child, f"user messages. {mark}")  # "MOCK CODEX REPLY to N user messages. MARK:…"
    except (OSError, pexpect.EOF):  # the pty closed: clinvk (and codex) ended
        child.close()
        raise AssertionError(f"ended early: exit {child.exitstatus}, signal {child.signalstatus}"
                             ) from None
    time.sleep(2)  # the hidden title request and the rollout's token count


def _codex_quit(child: pexpect.spawn) -> None:
    child.send("\x03")
    time.sleep(0.4)
    child.send("\x03")  # Ctrl-C twice quits; not a third time (see above)
    child.expect(pexpect.EOF, timeout=30)
    child.close()


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_real_codex_tui_title_requests_are_billed_to_their_turns(tmp_path: Path) -> None:
    """codex's TUI asks the model for a task title in hidden threads of its own: their
    tokens are in no store of codex, yet billed. Each goes to the turn during which it was
    asked; the turns add up to the bill, also after an interactive resume."""
    sys.path.insert(0, str(REPO / "tests"))
    import realcli
    from standin import StandIn, sum_usage

    exe = realcli.require_cli("codex")
    home, work, clinvk_home = tmp_path / "home", tmp_path / "work", tmp_path / "clinvk-home"
    work.mkdir()
    clinvk_home.mkdir()
    with StandIn() as api:
        env = realcli.prepare_cli("codex", api, home, workdir=work, cli_path=exe)
        env["CLINVK_HOME"] = str(clinvk_home)
        (clinvk_home / "config.yaml").write_text(f"backends:\n  codex:\n    command: {exe}\n")

        def clinvk(*args: str) -> pexpect.spawn:
            return pexpect.spawn(sys.executable, ["-m", "clinvk", *args], cwd=str(work), env=env,
                                 encoding="utf-8", codec_errors="replace", dimensions=(40, 120),
                                 timeout=60)

        child = clinvk("-b", "codex")
        time.sleep(6)  # startup
        _codex_turn(child, "first MARK:cx1", "MARK:cx1")
        _codex_turn(child, "second MARK:cx2", "MARK:cx2")
        _codex_quit(child)
        first_run = api.requests_for("openai")
        mark = api.mark()
        child = clinvk("resume", "--last")
        time.sleep(6)
        _codex_turn(child, "third MARK:cx3", "MARK:cx3")
        _codex_quit(child)
        resumed = api.billed_total("openai", since=mark)
        requests = api.requests_for("openai")
        everything = sum_usage([r["billed"] for r in requests])
    done = subprocess.run([sys.executable, "-m", "clinvk", "sessions", "list", "--json"],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=60)
    [rec] = json.loads(done.stdout)
    # the TUI asks for a title in a hidden thread of its own after each prompt of the run
    titles = [r for r in first_run if "Generate a concise" in r["user_texts"][-1]]
    assert titles and all(t["billed"]["total_tokens"] for t in titles)
    turns = rec["turns"]
    marks = ["MARK:cx1", "MARK:cx2", "MARK:cx3"]
    assert [t["prompt"] for t in turns] == ["first MARK:cx1", "second MARK:cx2", "third MARK:cx3"]
    for turn, mark in zip(turns, marks, strict=True):  # the prompt's request + its title's
        asked = [r["billed"] for r in requests if mark in r["user_texts"][-1]]
        assert turn["usage"] == sum_usage(asked), mark
    assert turns[2]["usage"] == resumed
    assert rec["token_usage"] == everything == sum_usage([t["usage"] for t in turns])


def test_a_late_ctrl_c_does_not_cut_the_recording_short(monkeypatch) -> None:
    """Ctrl-C pressed as the backend exits reaches clinvk while it records: ignored."""
    from clinvk import interactive_turn
    from clinvk import run_prompt as run_cmd

    recorded = []

    def fake_session(app, spec) -> int:
        os.kill(os.getpid(), signal.SIGINT)  # delivered while "recording"
        recorded.append(spec)
        return 7

    monkeypatch.setattr(interactive_turn, "run_interactive_session", fake_session)
    app = type("AppStub", (), {"changes_nothing": False})()
    spec = type("SpecStub", (), {"ephemeral": False, "dry_run": False})()
    before = signal.getsignal(signal.SIGINT)
    try:
        assert run_cmd.execute_interactive(app, spec) == 7
        assert recorded == [spec]
        # and after it, until the process ends: a Ctrl-C typed as the TUI quit ("press
        # Ctrl-C again to quit") must not kill clinvk on its way out
        assert signal.getsignal(signal.SIGINT) is run_cmd._late_interrupt
        os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_late_ctrl_c_while_the_recording_waits_for_the_store(term: Term) -> None:
    """The store is busy as the backend quits, and a Ctrl-C reaches clinvk while its
    recording waits for the lock: the session is still recorded once the lock frees."""
    from lockholder import LockHolder, has_children, wait_until, waits_for_lock

    holder = LockHolder(term.clinvk_home)
    try:
        child = term.spawn("-b", "claude")
        say(child, "hello there")
        child.expect_exact("> ")
        child.send("/exit\r")
        wait_until(lambda: waits_for_lock(child.pid) and not has_children(child.pid), child,
                   "waited for the lock to record")
        child.kill(signal.SIGINT)
        wait_until(lambda: waits_for_lock(child.pid), child, "went on waiting")
    finally:
        holder.release()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    [rec] = term.sessions()
    assert rec["turn_count"] == 1 and rec["status"] == "active"
    assert [t["prompt"] for t in rec["turns"]] == ["hello there"]
