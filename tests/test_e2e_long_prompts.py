"""End to end: a ~1 MB piped prompt through the real clinvk process to the real claude, codex
and gemini (stand-in API on 127.0.0.1) — a new session, a resumed one and a fork — arrives
whole and the turn is recorded with the usage that was billed.

One argv string may not exceed 128 KiB on Linux: clinvk hands such a prompt to the backend
on its stdin (`claude -p` with no prompt argument, `codex exec [resume ID] -`, `gemini`
without `-p`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import realcli
from conftest import Result
from standin import StandIn

pytestmark = pytest.mark.e2e

USAGE_KEYS = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens",
              "output_tokens", "reasoning_tokens", "total_tokens")
LINE = "diff --git a/src/module.py b/src/module.py ünïcödé 1234567890 +-\n"


def _piped(size: int, tag: str) -> str:
    """`size` bytes of diff-like text, numbered so that a lost or reordered piece shows."""
    lines = [f"{n:07d} {LINE}" for n in range(size // (len(LINE.encode()) + 8) + 1)]
    return f"BEGIN {tag}\n" + "".join(lines) + f"END {tag}\n"


@pytest.fixture(scope="module")
def standin():
    with StandIn() as server:
        yield server


class World:
    def __init__(self, name: str, standin: StandIn, tmp: Path) -> None:
        self.name, self.api, self.standin = name, realcli.API_OF[name], standin
        cli = realcli.require_cli(name)
        self.project = tmp / "project"
        self.project.mkdir()
        self.env = realcli.prepare_cli(name, standin, tmp / "home", self.project, cli)
        self.env["CLINVK_HOME"] = str(tmp / "clinvk-home")
        self.env["CLINVK_BACKEND"] = name

    def run(self, *args: str, stdin: str | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "clinvk", *args], cwd=self.project, env=self.env,
            input=stdin, capture_output=True, text=True, timeout=300,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def turn(self, words: list[str], piped: str) -> tuple[Result, dict, list[str]]:
        """clinvk with `piped` on stdin; its result, what was billed, the user texts the
        backend's last main request carried."""
        mark = self.standin.mark()
        result = self.run(*words[:-1], "-o", "json", words[-1], stdin=piped)
        requests = [r for r in self.standin.requests[mark:]
                    if r["api"] == self.api and r.get("kind") != "utility"]
        assert requests, result.err
        return result, self.standin.billed_total(self.api, since=mark), requests[-1]["user_texts"]

    def sessions(self) -> list[dict]:
        result = self.run("sessions", "list", "--all", "--json")
        assert result.code == 0, result.err
        return result.json()


def _usage(d: dict | None) -> dict[str, int]:
    return {k: (d or {}).get(k, 0) for k in USAGE_KEYS}


@pytest.mark.parametrize("name", realcli.CLIS)
def test_megabyte_piped_prompt_new_resumed_and_forked(name, standin, tmp_path):
    world = World(name, standin, tmp_path)
    steps = [  # (clinvk words, piped size): new session, -c, a fork of it
        (["review this MARK:new"], 1_000_000),
        (["-c", "and this MARK:resumed"], 300_000),
        (None, 300_000),
    ]
    recorded = []
    for words, size in steps:
        if words is None:
            words = ["resume", world.sessions()[0]["id"], "--fork", "fork MARK:fork"]
        piped = _piped(size, words[-1])
        result, billed, texts = world.turn(words, piped)
        assert result.code == 0, result.err
        sent = f"{words[-1]}\n\n{piped.rstrip(chr(10))}"
        assert len(sent.encode()) > size
        assert sent in texts, [len(t) for t in texts]  # arrived whole, as one message
        out = result.json()
        assert out["exit_code"] == 0 and f"MOCK {name.upper()} REPLY" in out["content"]
        assert _usage(out["usage"]) == _usage(billed) and billed["input_tokens"] > size // 100
        recorded.append(out)
    sessions = {s["id"]: s for s in world.sessions()}
    assert len(sessions) == 2  # the first (two turns) and its fork
    first, resumed, fork = recorded
    assert resumed["session_id"] == first["session_id"]
    session, forked = sessions[first["session_id"]], sessions[fork["session_id"]]
    assert forked["parent_id"] == session["id"]
    assert [_usage(t["usage"]) for t in session["turns"]] == [_usage(first["usage"]),
                                                            _usage(resumed["usage"])]
    assert [_usage(t["usage"]) for t in forked["turns"]] == [_usage(fork["usage"])]
    assert all(t["exit_code"] == 0 for t in session["turns"] + forked["turns"])
