"""End to end, issue 11 part 1: conversations made by running the real claude, codex and
gemini DIRECTLY (headless and in their TUIs, against the suite's stand-in API), then
adopted by `clinvk sessions adopt` (and by `sessions list` with adopt.auto).

What a backend's own store cannot hold is not in an adopted session's usage, and the tests
say so exactly (tests/direct_cli.py, `hidden_kind`): gemini's model-router request (every
turn made without `-m`), codex's TUI title request (a hidden thread of its own, see
docs/standin-findings.md), and claude 2.1.197's TUI title request (claude 2.1.330 makes
none). Everything else the stand-in billed is, turn by turn.

The directly-made conversations are made once per module (two scratch HOMEs: the pinned
three CLIs, and claude 2.1.197) and shared; each test adopts them into a clinvk home of its
own. Tests that continue a conversation come after those that only read them.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import realcli
from direct_cli import Conversation, DirectCLIs, hidden_kind
from standin import StandIn, sum_usage

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ALT = f"claude@{realcli.CLAUDE_ALT_VERSION}"
VARIANTS = ["claude", "codex", "gemini", ALT]
CLIS = ("claude", "codex", "gemini")

#: the requests that no store of the backend holds, per (variant, how the conversation was made)
HIDDEN = {
    ("claude", "headless"): set(), ("claude", "tui"): set(),
    ("codex", "headless"): set(), ("codex", "tui"): {"codex title"},
    ("gemini", "headless"): {"gemini router"}, ("gemini", "tui"): {"gemini router"},
    (ALT, "headless"): set(), (ALT, "tui"): {"claude title"},
}


class World:
    """Conversations made directly in one scratch HOME, by (cli, "headless"/"tui")."""

    def __init__(self, direct: DirectCLIs, clis: tuple[str, ...]) -> None:
        self.direct = direct
        self.convs: dict[tuple[str, str], Conversation] = {}
        for cli in clis:
            self.convs[(cli, "headless")] = direct.headless_conversation(
                cli, direct.project(f"{cli}-p"), [f"first {cli} MARK:h1", f"second {cli} MARK:h2"])
            self.convs[(cli, "tui")] = direct.tui(cli, direct.project(f"{cli}-tui"),
                                                  [f"typed {cli} MARK:t1"])
        self.built_at = time.time()

    def of(self, cli: str) -> list[Conversation]:
        return [c for (name, _how), c in self.convs.items() if name == cli]


@pytest.fixture(scope="module")
def standin():
    with StandIn() as server:
        yield server


@pytest.fixture(scope="module")
def pinned(standin, tmp_path_factory) -> World:
    """claude -p, codex exec, gemini -p (a turn, and a second one resumed directly) and the
    three TUIs (one typed prompt), all in one HOME."""
    for cli in CLIS:
        realcli.require_cli(cli)
    return World(DirectCLIs(standin, tmp_path_factory.mktemp("adopt-pinned")), CLIS)


@pytest.fixture(scope="module")
def alt(standin, tmp_path_factory) -> World:
    """The same with claude 2.1.197, in a HOME of its own."""
    exe = realcli.require_claude_alt()
    return World(DirectCLIs(standin, tmp_path_factory.mktemp("adopt-alt"), exe), ("claude",))


class Home:
    """A clinvk home of its own, reading the backends' stores of a World's HOME."""

    def __init__(self, world: World, tmp: Path, auto: bool = False, budget_ms: int = 300) -> None:
        self.world = world
        self.home = tmp / "clinvk-home"
        self.home.mkdir(parents=True)
        direct = world.direct
        (self.home / "config.yaml").write_text(
            f"adopt:\n  auto: {'true' if auto else 'false'}\n  budget_ms: {budget_ms}\n"
            f"backends:\n  claude:\n    command: {direct.paths['claude']}\n")
        self.env: dict[str, str] = {}
        for cli in CLIS:
            self.env.update(direct.env(cli))
        self.env["CLINVK_HOME"] = str(self.home)
        self.cwd = tmp

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "clinvk", *args], cwd=str(cwd or self.cwd),
                              env=self.env, capture_output=True, text=True, timeout=240,
                              stdin=subprocess.DEVNULL)

    def adopt(self, *args: str) -> dict[str, Any]:
        done = self.run("sessions", "adopt", "--json", *args)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        report = json.loads(done.stdout)
        assert report["skipped"] == [], report["skipped"]
        return report

    def records(self) -> dict[str, dict[str, Any]]:
        """Every session, by backend session id."""
        done = self.run("sessions", "list", "--all", "--json")
        assert done.returncode == 0, done.stderr
        out = {}
        for rec in json.loads(done.stdout):
            assert rec["backend_session_id"] not in out, "two sessions of one conversation"
            out[rec["backend_session_id"]] = rec
        return out

    def turn(self, *args: str, cwd: Path | None = None) -> tuple[dict[str, Any], list[dict]]:
        """`clinvk -o json ARGS`: its JSON, and the requests the stand-in saw meanwhile."""
        standin = self.world.direct.standin
        mark = standin.mark()
        done = self.run("-o", "json", *args, cwd=cwd)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), standin.requests[mark:]


def _world(request, variant: str) -> tuple[World, str]:
    world = request.getfixturevalue("alt" if variant == ALT else "pinned")
    return world, variant.partition("@")[0]


def _summary_matches(entry: dict[str, Any], conv: Conversation, rec: dict[str, Any]) -> None:
    assert entry == {"id": rec["id"], "backend": conv.backend,
                     "backend_session_id": conv.backend_session_id,
                     "working_dir": str(conv.cwd), "title": conv.prompts[0],
                     "turns_added": len(conv.turns), "usage_added": conv.bill}


def _adopted_record_matches(rec: dict[str, Any], conv: Conversation) -> None:
    assert rec["origin"] == "adopted" and rec["backend"] == conv.backend
    assert rec["backend_session_id"] == conv.backend_session_id
    assert rec["working_dir"] == str(conv.cwd)
    assert rec["model"] in conv.models, (rec["model"], conv.models)
    assert rec["title"] == conv.prompts[0]
    assert [t["prompt"] for t in rec["turns"]] == conv.prompts
    assert all(t["outside"] is True and t["exit_code"] == 0 for t in rec["turns"])
    for turn, made in zip(rec["turns"], conv.turns, strict=True):  # turn by turn, as billed
        assert turn["usage"] == made.bill, made.prompt
    assert rec["token_usage"] == conv.bill and rec["turn_count"] == len(conv.turns)
    assert rec["created_at"] <= rec["turns"][0]["at"] <= rec["last_used"]


def _hidden_is_as_known(conv: Conversation, variant: str) -> None:
    """What no store holds: exactly the known kinds, each billed something."""
    kinds = {hidden_kind(r) for t in conv.turns for r in t.hidden}
    assert kinds == HIDDEN[(variant, conv.how)], (conv.how, kinds)
    if kinds:
        assert conv.hidden_bill["total_tokens"] > 0


# --- adopting what was made directly -----------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_direct_sessions_are_adopted_with_what_was_billed(request, variant, tmp_path):
    world, cli = _world(request, variant)
    home = Home(world, tmp_path)
    convs = world.of(cli)
    for conv in convs:
        _hidden_is_as_known(conv, variant)

    dry = home.adopt("--dry-run", "-b", cli)
    assert dry["dry_run"] is True and dry["updated"] == []
    assert {e["backend_session_id"] for e in dry["adopted"]} == {c.backend_session_id
                                                                 for c in convs}
    assert home.records() == {}  # a dry run writes nothing

    report = home.adopt("-b", cli)
    assert report["dry_run"] is False and report["updated"] == []
    records = home.records()
    assert set(records) == {c.backend_session_id for c in convs}  # only this backend's
    entries = {e["backend_session_id"]: e for e in report["adopted"]}
    assert set(entries) == set(records)
    for conv in convs:
        rec = records[conv.backend_session_id]
        _adopted_record_matches(rec, conv)
        _summary_matches(entries[conv.backend_session_id], conv, rec)

    again = home.adopt("-b", cli)  # nothing changed: nothing added, files only stat'ed
    assert again["adopted"] == [] and again["updated"] == []
    assert again["unchanged"] >= len(convs)
    (home.home / "adopt-state.json").unlink()  # the state is derived: lost, nothing doubles
    rebuilt = home.adopt("-b", cli)
    assert rebuilt["adopted"] == [] and rebuilt["updated"] == []
    assert home.records() == records


def test_since_selects_by_the_time_a_file_changed(pinned, tmp_path):
    home = Home(pinned, tmp_path)
    since = math.ceil(max(pinned.built_at, time.time())) + 1
    stamp = datetime.fromtimestamp(since, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert home.adopt("--since", stamp)["adopted"] == []
    time.sleep(max(0.0, since - time.time()) + 0.2)
    direct = pinned.direct
    late = direct.headless_conversation("codex", direct.project("codex-late"), ["late MARK:l1"])
    report = home.adopt("--since", stamp)
    assert [e["backend_session_id"] for e in report["adopted"]] == [late.backend_session_id]
    report = home.adopt("--since", "1d")  # the others, now that they are in range
    assert {e["backend_session_id"] for e in report["adopted"]} == {
        c.backend_session_id for c in pinned.convs.values()}
    _adopted_record_matches(home.records()[late.backend_session_id], late)


def test_sessions_list_adopts_with_adopt_auto(pinned, tmp_path):
    """adopt.auto: the listing itself adopts; `sessions adopt` is never run. (A budget large
    enough for every file in one listing: the default 300 ms spreads them over listings.)"""
    home = Home(pinned, tmp_path, auto=True, budget_ms=120_000)
    records = home.records()
    assert set(records) >= {c.backend_session_id for c in pinned.convs.values()}
    for conv in pinned.convs.values():
        _adopted_record_matches(records[conv.backend_session_id], conv)
    assert home.adopt()["adopted"] == []  # already done by the listing

    files = len(pinned.convs)  # with the default budget: at least one file a listing
    home = Home(pinned, tmp_path / "default-budget", auto=True)
    for _listing in range(files):
        records = home.records()
        if set(records) >= {c.backend_session_id for c in pinned.convs.values()}:
            break
    assert set(records) >= {c.backend_session_id for c in pinned.convs.values()}


@pytest.mark.parametrize("cli", CLIS)
def test_a_half_written_transcript_waits_until_it_is_whole(pinned, cli, tmp_path):
    direct = pinned.direct
    conv = direct.headless_conversation(cli, direct.project(f"{cli}-cut"), [f"whole {cli} MARK:w1"])
    path = direct.native_file(cli, conv.backend_session_id)
    whole = path.read_bytes()
    path.write_bytes(whole.rstrip(b"\n")[:-20])  # its last line half-written
    home = Home(pinned, tmp_path)
    for warned in (True, False):  # one warning per version of the file
        done = home.run("sessions", "adopt", "--json", "-b", cli)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        report = json.loads(done.stdout)
        assert conv.backend_session_id not in {e["backend_session_id"] for e in report["adopted"]}
        skipped = [s for s in report["skipped"] if s["path"] == str(path)]
        assert len(skipped) == int(warned), report["skipped"]
        warnings = [line for line in done.stderr.splitlines() if line.startswith("clinvk: warning:")]
        assert len(warnings) == int(warned), done.stderr
    path.write_bytes(whole)
    report = home.adopt("-b", cli)
    assert [e["backend_session_id"] for e in report["adopted"]] == [conv.backend_session_id]
    _adopted_record_matches(home.records()[conv.backend_session_id], conv)


def test_a_gemini_conversation_resumed_in_a_later_minute_is_one_session(pinned, tmp_path):
    """gemini 0.61, resuming a chat in a later minute than it began, writes a new file and
    leaves the old one as a stub: two files, one conversation, one session."""
    direct = pinned.direct
    project = direct.project("gemini-later")
    sid, turn = direct.headless("gemini", "before the pause MARK:g1", project)
    conv = Conversation("gemini", "headless", project, sid, [turn])
    chats = direct.home / ".gemini" / "tmp"
    for path in chats.glob(f"*/chats/session-*-{sid[:8]}.jsonl"):  # as if begun a minute earlier
        path.rename(path.with_name(re.sub(r"T\d\d-\d\d-", "T00-00-", path.name)))
    direct.continue_directly(conv, "after the pause MARK:g2")
    assert len(list(chats.glob(f"*/chats/session-*-{sid[:8]}.jsonl"))) == 2
    home = Home(pinned, tmp_path)
    report = home.adopt("-b", "gemini")
    [entry] = [e for e in report["adopted"] if e["backend_session_id"] == sid]
    rec = home.records()[sid]
    _summary_matches(entry, conv, rec)
    _adopted_record_matches(rec, conv)


# --- resuming and continuing -------------------------------------------------------------


def _main_requests(requests: list[dict], api: str) -> list[dict]:
    return [r for r in requests if r["api"] == api and hidden_kind(r) is None]


def _carries(requests: list[dict], api: str, earlier: str, now: str) -> None:
    """The request that sent `now` also sent the earlier prompt: the history was carried."""
    [sent] = [r for r in _main_requests(requests, api) if now in r["user_texts"][-1]]
    assert any(earlier in t for t in sent["user_texts"][:-1]), sent["user_texts"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_adopted_sessions_resume_with_their_history_and_take_direct_turns(request, variant,
                                                                          tmp_path):
    world, cli = _world(request, variant)
    api = realcli.API_OF[cli]
    home = Home(world, tmp_path)
    home.adopt("-b", cli)
    headless, tui = world.convs[(cli, "headless")], world.convs[(cli, "tui")]
    before = home.records()

    for conv, prompt in ((headless, f"next {cli} MARK:r3"), (tui, f"after tui {cli} MARK:r2")):
        rec = before[conv.backend_session_id]
        body, requests = home.turn("resume", rec["id"], prompt, cwd=tmp_path)
        assert body["session_id"] == rec["id"] and body["exit_code"] == 0
        _carries(requests, api, conv.prompts[0], prompt)
        after = home.records()[conv.backend_session_id]
        assert [t["prompt"] for t in after["turns"]] == conv.prompts + [prompt]
        assert not after["turns"][-1].get("outside")
        assert after["turns"][-1]["usage"] == body["usage"]
        assert [t["usage"] for t in after["turns"][:-1]] == [t["usage"] for t in rec["turns"]]

    # the clinvk turn is not taken for an outside one; a turn made directly is appended
    assert home.adopt("-b", cli)["updated"] == []
    direct = world.direct.continue_directly(headless, f"direct again {cli} MARK:h4")
    report = home.adopt("-b", cli)
    assert report["adopted"] == []
    [entry] = report["updated"]
    rec = home.records()[headless.backend_session_id]
    assert entry["id"] == rec["id"] and entry["backend_session_id"] == headless.backend_session_id
    assert entry["turns_added"] == 1 and entry["usage_added"] == direct.bill
    assert [t["prompt"] for t in rec["turns"]] == headless.prompts[:2] + [
        f"next {cli} MARK:r3", f"direct again {cli} MARK:h4"]
    assert [bool(t.get("outside")) for t in rec["turns"]] == [True, True, False, True]
    assert rec["turns"][-1]["usage"] == direct.bill
    assert rec["token_usage"] == sum_usage([t["usage"] for t in rec["turns"]])
    assert rec["origin"] == "adopted"
    again = home.adopt("-b", cli)
    assert again["adopted"] == [] and again["updated"] == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_clinvk_session_continued_directly_gets_its_outside_turns(request, variant, tmp_path):
    world, cli = _world(request, variant)
    home = Home(world, tmp_path)
    project = world.direct.project(f"{cli}-by-clinvk")
    body, _ = home.turn("-b", cli, f"made by clinvk {cli} MARK:c1", cwd=project)
    sid, bsid = body["session_id"], body["backend_session_id"]
    [rec] = [r for r in home.records().values() if r["id"] == sid]
    assert rec["origin"] != "adopted"
    conv = Conversation(cli, "headless", project, bsid)

    outside = world.direct.continue_directly(conv, f"outside {cli} MARK:c2")
    report = home.adopt("-b", cli)
    assert bsid not in {e["backend_session_id"] for e in report["adopted"]}
    [entry] = [e for e in report["updated"] if e["backend_session_id"] == bsid]
    assert entry["id"] == sid and entry["turns_added"] == 1
    assert entry["usage_added"] == outside.bill
    after = home.records()[bsid]
    assert after["id"] == sid and after["origin"] == rec["origin"]
    assert [t["prompt"] for t in after["turns"]] == [f"made by clinvk {cli} MARK:c1",
                                                     f"outside {cli} MARK:c2"]
    assert after["turns"][0] == rec["turns"][0]  # clinvk's own turn, not doubled nor changed
    assert after["turns"][1]["outside"] is True and after["turns"][1]["usage"] == outside.bill

    body, _ = home.turn("resume", sid, f"clinvk again {cli} MARK:c3", cwd=project)
    assert body["session_id"] == sid
    # recording its own turn, clinvk keeps the turn made directly just before (not a copy
    # of its own: another prompt), and the next adopt has nothing to add
    resumed = home.records()[bsid]
    assert [t["prompt"] for t in resumed["turns"]] == [
        f"made by clinvk {cli} MARK:c1", f"outside {cli} MARK:c2", f"clinvk again {cli} MARK:c3"]
    assert [bool(t.get("outside")) for t in resumed["turns"]] == [False, True, False]
    report = home.adopt("-b", cli)
    assert report["adopted"] == [] and report["updated"] == [], json.dumps(report)
    assert home.records()[bsid] == resumed
