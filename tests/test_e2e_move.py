"""End to end: fork, hand-over and export/import on the real claude, codex and gemini,
against the stand-in API (what each request carried shows what the backend was given)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import realcli
from conftest import Result
from standin import StandIn

pytestmark = pytest.mark.e2e

API = realcli.API_OF
NAMES = ("claude", "codex", "gemini")


@pytest.fixture(scope="module")
def standin():
    with StandIn() as server:
        yield server


class World:
    """Several real CLIs sharing one scratch HOME and one $CLINVK_HOME."""

    def __init__(self, names: tuple[str, ...], standin: StandIn, tmp: Path, tag: str = "") -> None:
        self.standin = standin
        self.home = tmp / f"home{tag}"
        self.project = tmp / f"project{tag}"
        self.project.mkdir(parents=True, exist_ok=True)
        self.clinvk_home = tmp / f"clinvk-home{tag}"
        self.env: dict[str, str] = {}
        for name in names:
            self.env.update(realcli.prepare_cli(name, standin, self.home, self.project,
                                                realcli.require_cli(name)))
        self.env["CLINVK_HOME"] = str(self.clinvk_home)

    def run(self, *args: str, cwd: Path | None = None) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "clinvk", *args], cwd=str(cwd or self.project), env=self.env,
            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def turn(self, backend: str, *args: str) -> tuple[Result, list[list[str]]]:
        """Run clinvk once; the user texts of each main request `backend` made meanwhile."""
        mark = self.standin.mark()
        result = self.run(*args)
        assert result.code == 0, result.err
        requests = [r for r in self.standin.requests[mark:]
                    if r["api"] == API[backend] and r.get("kind") != "utility"]
        assert requests, f"{backend} made no request"
        return result, [r["user_texts"] for r in requests]

    def sessions(self) -> dict[str, dict]:
        result = self.run("sessions", "list", "--all", "--json")
        assert result.code == 0, result.err
        return {r["id"]: r for r in result.json()}


def _carries(texts: list[str], needle: str) -> bool:
    return any(needle in t for t in texts)


@pytest.mark.parametrize("name", NAMES)
def test_fork_copies_the_conversation_and_then_diverges(name, standin, tmp_path):
    world = World((name,), standin, tmp_path)
    result, _ = world.turn(name, "-b", name, "-o", "json", "first question MARK:alpha")
    original = result.json()["session_id"]

    result, requests = world.turn(name, "resume", original[:8], "--fork", "-o", "json",
                                  "fork turn MARK:fork")
    assert _carries(requests[-1], "first question MARK:alpha"), requests[-1]
    fork = result.json()
    assert fork["session_id"] != original and "MARK:fork" in fork["content"]
    records = world.sessions()
    assert records[fork["session_id"]]["parent_id"] == original
    assert records[fork["session_id"]]["backend_session_id"] != records[original]["backend_session_id"]
    assert records[original]["turn_count"] == 1 and records[fork["session_id"]]["turn_count"] == 1

    _, requests = world.turn(name, "resume", original, "original again MARK:orig")
    assert _carries(requests[-1], "first question MARK:alpha")
    assert not _carries(requests[-1], "fork turn MARK:fork"), requests[-1]

    _, requests = world.turn(name, "resume", fork["session_id"], "fork again MARK:fork2")
    assert _carries(requests[-1], "fork turn MARK:fork")
    assert _carries(requests[-1], "first question MARK:alpha")
    assert not _carries(requests[-1], "original again MARK:orig"), requests[-1]


@pytest.mark.parametrize("old,new", [("claude", "codex"), ("codex", "claude"),
                                     ("gemini", "claude"), ("claude", "gemini"),
                                     ("codex", "gemini"), ("gemini", "codex")])
def test_hand_over_gives_the_new_backend_the_conversation(old, new, standin, tmp_path):
    world = World((old, new), standin, tmp_path)
    result, _ = world.turn(old, "-b", old, "-o", "json", "first question MARK:one")
    first = result.json()
    world.turn(old, "resume", first["session_id"], "second question MARK:two")

    result, requests = world.turn(new, "resume", first["session_id"], "--to", new, "-o", "json",
                                  "third question MARK:three")
    handed = requests[0]
    for needle in ("first question MARK:one", "second question MARK:two",
                   f"MOCK {old.upper()} REPLY", "third question MARK:three"):
        assert _carries(handed, needle), (needle, handed)
    text = next(t for t in handed if "first question" in t)
    assert text.index("first question") < text.index("second question") < text.index("third")
    body = result.json()
    assert body["backend"] == new and f"MOCK {new.upper()} REPLY" in body["content"]
    record = world.sessions()[body["session_id"]]
    assert record["parent_id"] == first["session_id"]
    assert record["metadata"] == {"handed_from": old}
    assert record["turns"][0]["prompt"] == "third question MARK:three"

    _, requests = world.turn(new, "resume", body["session_id"], "fourth MARK:four")
    assert _carries(requests[-1], "first question MARK:one")  # the new backend kept it


SCREEN_REPLY = {"claude": "messages. {mark}", "codex": "user messages. {mark}",
                "gemini": "contents. {mark}"}


@pytest.mark.timeout(240)
@pytest.mark.parametrize("old,new", [("gemini", "claude"), ("claude", "codex"),
                                     ("codex", "gemini")])
def test_hand_over_without_prompt_opens_the_new_backends_interface(old, new, standin, tmp_path):
    """On a terminal, `resume ID --to NEW` with no PROMPT starts NEW's own interface with
    the conversation as its first message, and records the new session when it exits."""
    import time

    import pexpect
    from test_interactive import wait_screen

    world = World((old, new), standin, tmp_path)
    result, _ = world.turn(old, "-b", old, "-o", "json", "first question MARK:hand")
    first = result.json()
    mark = standin.mark()
    child = pexpect.spawn(sys.executable, ["-m", "clinvk", "resume", first["session_id"],
                                           "--to", new], cwd=str(world.project), env=world.env,
                          encoding="utf-8", codec_errors="replace", dimensions=(40, 120),
                          timeout=60)
    wait_screen(child, SCREEN_REPLY[new].format(mark="MARK:hand"))  # answered, untyped
    time.sleep(3)  # let the interface write its store (codex: and ask for a title)
    child.send("\x03")
    time.sleep(0.4)
    child.send("\x03")
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    assert child.signalstatus is None, child.before  # clinvk ended on its own, as the backend
    requests = [r for r in standin.requests[mark:] if r["api"] == API[new]]
    main = [r for r in requests if r.get("kind") != "utility"]
    assert _carries(main[0]["user_texts"], "first question MARK:hand")
    assert _carries(main[0]["user_texts"], f"MOCK {old.upper()} REPLY")
    handed = next(r for r in world.sessions().values() if r["id"] != first["session_id"])
    assert handed["backend"] == new and handed["parent_id"] == first["session_id"]
    assert handed["metadata"] == {"handed_from": old} and handed["turn_count"] == 1
    assert handed["turns"][0]["prompt"] == f"(the conversation, handed over from {old})"
    billed = standin.billed_total(API[new], since=mark)
    assert {k: handed["token_usage"][k] for k in billed} == billed


def test_hand_over_keeps_the_newest_turns_within_max_chars(standin, tmp_path):
    world = World(("claude", "codex"), standin, tmp_path)
    world.clinvk_home.mkdir()
    (world.clinvk_home / "config.yaml").write_text("handoff:\n  max_chars: 120\n")
    result, _ = world.turn("claude", "-b", "claude", "-o", "json", "oldest question MARK:old")
    sid = result.json()["session_id"]
    world.turn("claude", "resume", sid, "newest question MARK:new")
    _, requests = world.turn("codex", "resume", sid, "--to", "codex", "go on")
    assert _carries(requests[0], "newest question MARK:new")
    assert not _carries(requests[0], "oldest question MARK:old")
    assert _carries(requests[0], "earlier turn(s) left out")


@pytest.mark.parametrize("name", NAMES)
def test_export_import_into_another_home_and_directory_resumes(name, standin, tmp_path):
    source = World((name,), standin, tmp_path / "a")
    result, _ = source.turn(name, "-b", name, "-o", "json", "first question MARK:exported")
    sid = result.json()["session_id"]
    bundle = tmp_path / "bundle.json"
    exported = source.run("sessions", "export", sid, "-o", str(bundle))
    assert exported.code == 0, exported.err
    assert json.loads(bundle.read_text())["sessions"][0]["transcript"]["files"]

    target = World((name,), standin, tmp_path / "b", tag="2")
    elsewhere = tmp_path / "b" / "moved here"
    elsewhere.mkdir()
    result = target.run("sessions", "import", str(bundle), "--workdir", str(elsewhere), "--json")
    assert result.code == 0, result.err
    [record] = result.json()
    assert record["id"] == sid and record["working_dir"] == str(elsewhere)

    _, requests = target.turn(name, "resume", sid, "after the move MARK:moved")
    assert _carries(requests[-1], "first question MARK:exported"), requests[-1]
    shown = target.run("sessions", "show", sid, "--transcript")
    assert shown.code == 0 and "after the move" in shown.out, shown.err

    again = target.run("sessions", "import", str(bundle), "--new-id", "--json")
    assert again.code == 0, again.err
    copy = again.json()[0]
    assert copy["id"] != sid and copy["backend_session_id"] != record["backend_session_id"]
    _, requests = target.turn(name, "resume", copy["id"], "in the copy MARK:copy")
    assert _carries(requests[-1], "first question MARK:exported")
    assert not _carries(requests[-1], "after the move MARK:moved")
