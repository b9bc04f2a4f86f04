"""The exact usage of an interactive claude run (backends/claude_usage.py) on files shaped
like the ones claude 2.1.197 and 2.1.330 write (measured: docs/standin-findings.md): which
starting point is subtracted, and which figures are never used."""

from __future__ import annotations

import json
from pathlib import Path

from clinvk.backends.base import Usage
from clinvk.backends.claude_store import project_dir_name
from clinvk.backends.claude_usage import exact_turn_usage, run_usage, snapshot
from clinvk.backends.transcript import TranscriptTurn

WORK = "/home/u/proj"
A = "39f56733-0000-4000-8000-000000000001"
B = "9c4773dc-0000-4000-8000-000000000002"
F = "14a55038-0000-4000-8000-000000000003"


def model_usage(uncached: int, out: int, read: int = 40, write: int = 20) -> dict:
    return {"claude-opus-4-8": {"inputTokens": uncached, "outputTokens": out,
                                "cacheReadInputTokens": read, "cacheCreationInputTokens": write,
                                "webSearchRequests": 0, "costUSD": 0.01}}


def billed(uncached: int, out: int, read: int = 40, write: int = 20) -> Usage:
    return Usage(uncached + read + write, read, write, out, 0)


class Home:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.environ = {"HOME": str(root)}
        self.scratch = root / "scratch"
        self.scratch.mkdir(parents=True)
        self.project = root / ".claude" / "projects" / project_dir_name(WORK)
        self.project.mkdir(parents=True)

    def config(self, **projects: tuple[str, dict]) -> None:
        """`~/.claude.json` with lastSessionId/lastModelUsage per project folder."""
        data = {"projects": {folder.replace("_", "/"): {"lastSessionId": sid, "lastModelUsage": mu}
                             for folder, (sid, mu) in projects.items()}}
        (self.root / ".claude.json").write_text(json.dumps(data))

    def transcript(self, sid: str, *cost_states: dict) -> None:
        lines = [{"type": "user", "sessionId": sid, "message": {"role": "user", "content": "hi"}}]
        lines += [{"type": "cost-state", "sessionId": sid, "modelUsage": mu} for mu in cost_states]
        (self.project / f"{sid}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))

    def before(self, resume_id: str | None) -> None:
        snapshot(WORK, self.environ, resume_id, self.scratch)


def turn(usage: Usage, prompt: str = "p") -> TranscriptTurn:
    return TranscriptTurn(prompt, "2026-11-30T10:00:00Z", None, usage, "claude-opus-4-8")


P = "_home_u_proj"  # the project folder's key in Home.config


def test_new_session_197_the_title_requests_go_to_the_last_turn(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.config(**{P: (B, model_usage(500, 9))})  # another session ran here before
    home.before(None)
    # the run: two prompts (987 + 989 uncached) and two title requests (121 each)
    home.config(**{P: (A, model_usage(987 + 989 + 2 * 121, 36, 160, 80))})
    turns = [turn(billed(987, 9)), turn(billed(989, 9))]
    exact = exact_turn_usage(turns, home.scratch, A)
    assert exact is not None
    assert exact[0].usage == billed(987, 9)
    assert exact[1].usage == billed(989, 9) + billed(2 * 121, 18, 80, 40)
    assert sum((t.usage for t in exact), Usage()) == billed(987 + 989 + 242, 36, 160, 80)


def test_resume_197_subtracts_what_claude_restored_only_when_it_was_ours(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.config(**{P: (A, model_usage(2218, 36, 160, 80))})  # A's first run, restored on resume
    home.before(A)
    home.config(**{P: (A, model_usage(2218 + 990, 45, 200, 100))})
    assert run_usage(home.scratch, A) == billed(990, 9)

    other = Home(tmp_path / "other")
    other.config(**{P: (B, model_usage(2218, 36, 160, 80))})  # B exited last: A starts from 0
    other.before(A)
    other.config(**{P: (A, model_usage(989, 9))})
    assert run_usage(other.scratch, A) == billed(989, 9)


def test_fork_197_starts_from_zero(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.config(**{P: (A, model_usage(2218, 36, 160, 80))})
    home.before(A)  # `--resume A --fork-session --session-id F`
    home.config(**{P: (F, model_usage(991, 9))})
    assert run_usage(home.scratch, F) == billed(991, 9)


def test_an_entry_of_another_session_is_never_used(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.config(**{P: (A, model_usage(100, 1))})
    home.before(None)
    home.config(**{P: (B, model_usage(5000, 50))})  # another claude here exited after ours
    turns = [turn(billed(987, 9))]
    assert run_usage(home.scratch, F) is None
    assert exact_turn_usage(turns, home.scratch, F) is None  # the transcript's figures stand


def test_330_cost_state_lines_win_and_a_resume_subtracts_the_last_one(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.transcript(A, model_usage(659, 9))
    home.config(**{P: (B, model_usage(659, 9))})  # B ran last: the config would say "from 0"
    home.before(A)
    home.transcript(A, model_usage(659, 9), model_usage(1321, 18, 80, 40),
                    model_usage(1321, 18, 80, 40))
    home.config(**{P: (A, model_usage(1321, 18, 80, 40))})  # cumulative: restored from the file
    assert run_usage(home.scratch, A) == billed(662, 9)
    assert exact_turn_usage([turn(billed(662, 9))], home.scratch, A) is None  # nothing hidden


def test_330_fork_subtracts_the_parents_cost_state(tmp_path: Path) -> None:
    home = Home(tmp_path)
    home.transcript(A, model_usage(1985, 27, 120, 60))
    home.before(A)
    home.transcript(F, model_usage(2651, 36, 160, 80))
    assert run_usage(home.scratch, F) == billed(666, 9)


def test_no_snapshot_or_unreadable_files_change_nothing(tmp_path: Path) -> None:
    home = Home(tmp_path)
    turns = [turn(billed(987, 9))]
    assert exact_turn_usage(turns, home.scratch, A) is None  # no snapshot taken
    home.before(None)
    (tmp_path / ".claude.json").write_text("{not json")
    assert exact_turn_usage(turns, home.scratch, A) is None
    (tmp_path / ".claude.json").write_text(json.dumps({"projects": {WORK: {
        "lastSessionId": A, "lastModelUsage": model_usage(10, 1)}}}))
    assert exact_turn_usage(turns, home.scratch, A) is None  # smaller than the transcript's
