"""End to end: the real claude, codex and gemini through the real clinvk process, against
the suite's stand-in API on 127.0.0.1, which records what it billed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import realcli
from conftest import Result, assert_clean_error
from standin import StandIn

pytestmark = pytest.mark.e2e

API = {"claude": "anthropic", "codex": "openai", "gemini": "gemini"}
# an API error each CLI gives up on at once (measured: docs/standin-findings.md)
FAST_FAILURE = {"claude": 403, "codex": 400, "gemini": 400}
USAGE_KEYS = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens",
              "output_tokens", "reasoning_tokens", "total_tokens")


@pytest.fixture(scope="module")
def standin():
    with StandIn() as server:
        yield server


class Backend:
    """One real backend CLI wired to the stand-in, and clinvk running it."""

    def __init__(self, name: str, standin: StandIn, tmp: Path) -> None:
        name, _, version = name.partition("@")  # "claude@2.1.197": that claude, not the pinned one
        self.name, self.api, self.standin = name, API[name], standin
        cli = realcli.require_claude(version) if name == "claude" else realcli.require_cli(name)
        self.project = tmp / "project"
        self.elsewhere = tmp / "elsewhere"
        self.project.mkdir()
        self.elsewhere.mkdir()
        self.clinvk_home = tmp / "clinvk-home"
        self.env = realcli.prepare_cli(name, standin, tmp / "home", self.project, cli)
        self.env["CLINVK_HOME"] = str(self.clinvk_home)
        self.env["CLINVK_BACKEND"] = name

    def run(self, *args: str, cwd: Path | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "clinvk", *args], cwd=str(cwd or self.project), env=self.env,
            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def turn(self, *args: str, cwd: Path | None = None) -> tuple[Result, dict[str, int], list]:
        """Run clinvk once; also what the stand-in billed and saw during that run."""
        mark = self.standin.mark()
        result = self.run(*args, cwd=cwd)
        requests = [r for r in self.standin.requests[mark:] if r["api"] == self.api]
        return result, self.standin.billed_total(self.api, since=mark), requests

    def sessions(self) -> list[dict]:
        result = self.run("sessions", "list", "--all", "--json")
        assert result.code == 0, result.err
        return result.json()


@pytest.fixture(params=["claude", "codex", "gemini"])
def backend(request, standin, tmp_path) -> Backend:
    return Backend(request.param, standin, tmp_path)


@pytest.fixture(params=["claude", "codex", "gemini", f"claude@{realcli.CLAUDE_ALT_VERSION}"])
def usage_backend(request, standin, tmp_path) -> Backend:
    """The usage tests also run on claude 2.1.197, what npm installs on node 20."""
    return Backend(request.param, standin, tmp_path)


def _usage(d: dict | None) -> dict[str, int]:
    return {k: (d or {}).get(k, 0) for k in USAGE_KEYS}


def test_five_turns_resume_every_way_and_usage_is_what_was_billed(usage_backend):
    """New session, -c, resume --last, resume --here, resume <prefix> from elsewhere."""
    backend = usage_backend
    steps = [
        (["first question MARK:alpha"], backend.project),
        (["-c", "second MARK:beta"], backend.elsewhere),
        (["resume", "--last", "third MARK:gamma"], backend.elsewhere),
        (["resume", "--here", "fourth MARK:delta"], backend.project),
        (None, backend.elsewhere),  # resume <prefix>, filled in once the id is known
    ]
    billed_turns = []
    for n, (args, cwd) in enumerate(steps):
        if args is None:
            args = ["resume", backend.sessions()[0]["id"][:6], "fifth MARK:epsilon"]
        result, billed, requests = backend.turn(*args, cwd=cwd)
        assert result.code == 0, result.err
        assert f"MOCK {backend.name.upper()} REPLY" in result.out
        assert requests, "the backend made no API request"
        if n:  # the resumed turn really carried the earlier conversation
            main = [r for r in requests if r.get("kind") != "utility"]
            assert any("first question MARK:alpha" in t for t in main[-1]["user_texts"]), main[-1]
        billed_turns.append(billed)
    [session] = backend.sessions()
    assert session["turn_count"] == 5 and session["status"] == "active"
    assert session["working_dir"] == str(backend.project)
    for turn, billed in zip(session["turns"], billed_turns, strict=True):
        assert _usage(turn["usage"]) == _usage(billed)
    summed = {k: sum(b[k] for b in billed_turns) for k in USAGE_KEYS}
    assert _usage(session["token_usage"]) == summed
    assert session["token_usage"]["cached_input_tokens"] > 0
    if backend.name == "codex":  # running totals turned into per-turn figures
        assert session["token_usage"]["reasoning_tokens"] > 0


def test_output_formats(backend):
    result, billed, _ = backend.turn("-o", "json", "json please")
    assert result.code == 0, result.err
    body = result.json()
    assert body["backend"] == backend.name and body["exit_code"] == 0 and body["error"] is None
    assert f"MOCK {backend.name.upper()} REPLY" in body["content"]
    assert _usage(body["usage"]) == _usage(billed)
    [session] = backend.sessions()
    assert body["session_id"] == session["id"]
    assert body["backend_session_id"] == session["backend_session_id"]

    result, billed, _ = backend.turn("-o", "stream-json", "-c", "stream please")
    assert result.code == 0, result.err
    events = [json.loads(line) for line in result.out.splitlines()]
    assert events[0] == {"type": "start", "session_id": session["id"], "backend": backend.name}
    text = "".join(e["text"] for e in events if e["type"] == "text")
    assert f"MOCK {backend.name.upper()} REPLY" in text
    assert events[-1]["type"] == "done" and _usage(events[-1]["usage"]) == _usage(billed)

    result, _, _ = backend.turn("-o", "text", "-c", "text please")
    assert result.code == 0 and result.out.startswith(f"MOCK {backend.name.upper()} REPLY")
    assert backend.sessions()[0]["turn_count"] == 3


def test_ephemeral_leaves_no_trace(backend):
    assert backend.run("first").code == 0
    snapshot = {p: p.stat().st_mtime_ns for p in backend.clinvk_home.rglob("*")}
    result, _, requests = backend.turn("--ephemeral", "-o", "json", "-c", "secret MARK:eph")
    assert result.code == 0, result.err
    assert result.json()["session_id"] is None and requests
    result, _, _ = backend.turn("--ephemeral", "brand new")
    assert result.code == 0
    assert {p: p.stat().st_mtime_ns for p in backend.clinvk_home.rglob("*")} == snapshot


def test_api_error_is_exit_1_and_keeps_the_session(backend):
    assert backend.run("works MARK:ok").code == 0
    backend.standin.set_fail(backend.api, FAST_FAILURE[backend.name],
                             message="stand-in refuses this request")
    try:
        result, _, _ = backend.turn("-c", "this one fails")
    finally:
        backend.standin.clear_faults()
    assert_clean_error(result, 1)
    assert "stand-in refuses this request" in result.err
    [session] = backend.sessions()
    assert session["status"] == "error" and "stand-in refuses" in session["error"]
    assert session["turn_count"] == 2 and session["turns"][0]["exit_code"] == 0
    assert session["backend_session_id"]
    result = backend.run("-c", "and now it works again")
    assert result.code == 0, result.err
    assert backend.sessions()[0]["status"] == "active"


def test_resume_unknown_backend_session_fails_cleanly(backend):
    assert backend.run("hello").code == 0
    [session] = backend.sessions()
    path = next(backend.clinvk_home.joinpath("sessions").rglob(f"{session['id']}.json"))
    record = json.loads(path.read_text())
    record["backend_session_id"] = "00000000-0000-4000-8000-000000000000"
    path.write_text(json.dumps(record))
    result = backend.run("-c", "again")
    assert_clean_error(result, 1)
    assert backend.sessions()[0]["turn_count"] == 2


def test_backends_command_lists_the_real_clis(backend):
    result = backend.run("backends", "--json")
    assert result.code == 0, result.err
    row = {r["name"]: r for r in result.json()}[backend.name]
    assert row["installed"] and row["version"] and os.path.isabs(row["path"])
    assert row["version_tested"] is True and row["tested_versions"]  # the pinned versions
    assert "warning" not in result.err


def test_not_installed_is_exit_3(backend, tmp_path):
    env_path = backend.env["PATH"]
    backend.env["PATH"] = os.path.dirname(shutil.which("python3") or sys.executable)
    try:
        result = backend.run("hello")
    finally:
        backend.env["PATH"] = env_path
    assert_clean_error(result, 3, f"`{backend.name}`", "npm install")


def _chat_files(backend: Backend) -> list[Path]:
    return sorted((Path(backend.env["HOME"]) / ".gemini").rglob("chats/session-*.jsonl"))


def _age_chat_files(backend: Backend) -> None:
    """Pretend every gemini chat started in an earlier minute (as after a pause)."""
    import re

    for path in _chat_files(backend):
        path.rename(path.with_name(re.sub(r"T\d\d-\d\d-", "T00-00-", path.name)))


def test_gemini_resume_survives_its_own_cleanup(standin, tmp_path):
    """gemini 0.61 leaves a stub file when a session is resumed in a later minute than it
    started, and its start-up clean-up then deletes the whole session on the next run of any
    other session in the project. clinvk removes those stubs, its own and ones a direct
    `gemini --resume` left, so the session is still there to resume."""
    gemini = Backend("gemini", standin, tmp_path)
    first = gemini.run("-o", "json", "start MARK:one")
    assert first.code == 0, first.err
    session = first.json()
    _age_chat_files(gemini)
    assert gemini.run("resume", session["session_id"][:8], "again MARK:two").code == 0
    assert gemini.run("--new", "another session MARK:other").code == 0

    _age_chat_files(gemini)  # and once more behind clinvk's back: gemini --resume directly
    direct = realcli.headless_argv("gemini", "directly MARK:direct",
                                   resume=session["backend_session_id"],
                                   cli_path=realcli.require_cli("gemini"))
    done = subprocess.run(direct, cwd=gemini.project, env=gemini.env, capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    short = session["backend_session_id"][:8]
    assert len([p for p in _chat_files(gemini) if p.name.endswith(f"-{short}.jsonl")]) == 2
    assert gemini.run("--new", "yet another MARK:other2").code == 0

    result, _, requests = gemini.turn("resume", session["session_id"], "last MARK:three")
    assert result.code == 0, result.err
    texts = [t for r in requests for t in r["user_texts"]]
    assert any("MARK:one" in t for t in texts) and any("MARK:direct" in t for t in texts)
