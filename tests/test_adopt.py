"""`clinvk sessions adopt` and adopt.auto on real store files of the three CLIs.

The files in tests/samples/stores/adopt/ were written by the real CLIs (claude 2.1.330 and
2.1.197, codex 0.169.0, gemini 0.61.0) run directly against the stand-in API (see capture.py
there), with what the stand-in billed per prompt beside each."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clinvk.backends import get_adapter
from conftest import Clinvk

SAMPLES = Path(__file__).parent / "samples" / "stores" / "adopt"
LABELS = ("claude-2.1.330", "claude-2.1.197", "codex-0.169.0", "gemini-0.61.0")
WORK = "/tmp/adopt-capture/work"  # the working directory the samples were made in


def _info(label: str) -> dict:
    return json.loads((SAMPLES / f"{label}.billed.json").read_text())


def place(home: Path, label: str, content: bytes | None = None) -> Path:
    """Put a sample where its CLI keeps it under `home` (gemini's project registered)."""
    rel = _info(label)["path"].removeprefix("~/")
    path = home / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if content is not None else (SAMPLES / f"{label}.jsonl").read_bytes())
    if label.startswith("gemini"):
        (home / ".gemini" / "projects.json").write_text(json.dumps({"projects": {WORK: "work"}}))
    return path


def place_all(home: Path) -> dict[str, Path]:
    return {label: place(home, label) for label in LABELS}


def adopt(clinvk: Clinvk, *args: str) -> dict:
    result = clinvk.run("sessions", "adopt", "--json", *args)
    assert result.code == 0, result.err
    return result.json()


USAGE_KEYS = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens",
              "output_tokens", "reasoning_tokens", "total_tokens")

# gemini's chat file holds the main requests only: the stand-in also billed gemini's
# model-router request (33 input, 5 output tokens a prompt), which no file of gemini records.
GEMINI_CHAT_FIGURES = [
    {"input_tokens": 687, "cached_input_tokens": 60, "cache_creation_input_tokens": 0,
     "output_tokens": 15, "reasoning_tokens": 4, "total_tokens": 702},
    {"input_tokens": 689, "cached_input_tokens": 60, "cache_creation_input_tokens": 0,
     "output_tokens": 15, "reasoning_tokens": 4, "total_tokens": 704},
]


def expected_turns(label: str) -> list[dict[str, int]]:
    return GEMINI_CHAT_FIGURES if label.startswith("gemini") else _info(label)["billed"]


# --- the backends' native_files -------------------------------------------------------------


def test_native_files_are_the_conversations_only(tmp_path: Path) -> None:
    home = tmp_path
    env = {"HOME": str(home)}
    files = place_all(home)
    project = files["claude-2.1.330"].parent
    (project / "agent-1234abcd.jsonl").write_text("{}\n")  # an old sub-agent transcript
    sub = project / files["claude-2.1.330"].stem / "subagents"
    sub.mkdir(parents=True)
    (sub / "agent-a1.jsonl").write_text("{}\n")
    archived = home / ".codex" / "archived_sessions" / "rollout-2026-01-01T00-00-00-x.jsonl"
    archived.parent.mkdir(parents=True)
    archived.write_text("{}\n")
    (files["gemini-0.61.0"].parent / "notes.txt").write_text("x")
    older = files["gemini-0.61.0"].parent / "session-2025-01-01T00-00-abcdef12.json"
    older.write_text("{}")
    assert get_adapter("claude").native_files(env) == [files["claude-2.1.330"],
                                                       files["claude-2.1.197"]] or \
        sorted(get_adapter("claude").native_files(env)) == sorted(
            [files["claude-2.1.330"], files["claude-2.1.197"]])
    assert sorted(get_adapter("codex").native_files(env)) == sorted(
        [files["codex-0.169.0"], archived])
    assert sorted(get_adapter("gemini").native_files(env)) == sorted(
        [files["gemini-0.61.0"], older])
    env_moved = {"HOME": str(tmp_path / "nobody"), "CLAUDE_CONFIG_DIR": str(home / ".claude"),
                 "CODEX_HOME": str(home / ".codex")}
    assert len(get_adapter("claude").native_files(env_moved)) == 2
    assert len(get_adapter("codex").native_files(env_moved)) == 2


@pytest.mark.parametrize("label", LABELS)
def test_native_transcript_usage_per_turn_is_what_was_billed(tmp_path: Path, label: str) -> None:
    from clinvk.backends.transcript import split_turns

    path = place(tmp_path, label)
    backend = label.split("-")[0]
    transcript = get_adapter(backend).native_transcript(path, {"HOME": str(tmp_path)})
    assert transcript.session_id == _info(label)["session_id"]
    assert transcript.working_dir == WORK
    turns = split_turns(transcript.messages)
    assert [t.prompt for t in turns] == ["first adopt question", "second adopt question"]
    assert [t.usage.to_dict() for t in turns] == expected_turns(label)


def test_a_half_written_line_is_not_whole(tmp_path: Path) -> None:
    from clinvk.backends.transcript import TranscriptUnavailable

    for label in LABELS:
        data = (SAMPLES / f"{label}.jsonl").read_bytes()
        path = place(tmp_path, label, data + b'{"type": "user", "mess')
        with pytest.raises(TranscriptUnavailable, match="not JSON"):
            get_adapter(label.split("-")[0]).native_transcript(path, {"HOME": str(tmp_path)})


# --- the command ----------------------------------------------------------------------------


def test_adopt_json_shape_usage_and_idempotence(clinvk: Clinvk) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    place_all(clinvk.user_home)
    report = adopt(clinvk)
    assert set(report) == {"dry_run", "adopted", "updated", "skipped", "unchanged"}
    assert report["dry_run"] is False and report["updated"] == [] and report["skipped"] == []
    assert report["unchanged"] == 0 and len(report["adopted"]) == 4
    by_id = {entry["backend_session_id"]: entry for entry in report["adopted"]}
    for label in LABELS:
        entry = by_id[_info(label)["session_id"]]
        assert set(entry) == {"id", "backend", "backend_session_id", "working_dir", "title",
                              "turns_added", "usage_added"}
        assert entry["backend"] == label.split("-")[0] and entry["working_dir"] == WORK
        assert entry["title"] == "first adopt question" and entry["turns_added"] == 2
        summed = {k: sum(t[k] for t in expected_turns(label)) for k in USAGE_KEYS}
        assert entry["usage_added"] == summed
    sessions = {s["backend_session_id"]: s for s in clinvk.sessions()}
    assert len(sessions) == 4
    for label in LABELS:
        record = sessions[_info(label)["session_id"]]
        assert record["origin"] == "adopted" and record["turn_count"] == 2
        assert [t["usage"] for t in record["turns"]] == expected_turns(label)
        assert all(t["outside"] is True and t["exit_code"] == 0 for t in record["turns"])
        assert record["created_at"] <= record["turns"][0]["at"] <= record["last_used"]
        assert record["model"]
    again = adopt(clinvk)
    assert again["adopted"] == [] and again["updated"] == [] and again["unchanged"] == 4
    assert len(clinvk.sessions()) == 4


def test_dry_run_writes_nothing(clinvk: Clinvk) -> None:
    place_all(clinvk.user_home)
    report = adopt(clinvk, "--dry-run")
    assert report["dry_run"] is True and len(report["adopted"]) == 4
    assert not clinvk.home.exists()
    text = clinvk.run("sessions", "adopt", "--dry-run")
    assert text.code == 0 and text.out.startswith("would adopt 4 new session(s)")
    assert not clinvk.home.exists()


def test_backend_and_since_choose_the_files(clinvk: Clinvk) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    files = place_all(clinvk.user_home)
    old = 1_600_000_000
    os.utime(files["codex-0.169.0"], (old, old))
    report = adopt(clinvk, "-b", "codex", "-b", "gemini", "--since", "2021-01-01")
    assert [e["backend"] for e in report["adopted"]] == ["gemini"]
    report = adopt(clinvk, "-b", "codex")
    assert [e["backend"] for e in report["adopted"]] == ["codex"]
    assert sorted(e["backend"] for e in adopt(clinvk)["adopted"]) == ["claude", "claude"]
    bad = clinvk.run("sessions", "adopt", "-b", "nosuch")
    assert bad.code == 2 and "clinvk: error:" in bad.err


def test_unchanged_files_are_only_stated(clinvk: Clinvk, monkeypatch) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    place_all(clinvk.user_home)
    adopt(clinvk)
    from clinvk.backends.base import Adapter

    def refuse(*_args, **_kwargs):
        raise AssertionError("an unchanged file was read")

    for name in ("claude", "codex", "gemini"):
        monkeypatch.setattr(type(get_adapter(name)), "native_transcript", refuse)
    monkeypatch.setattr(Adapter, "native_transcript", refuse)
    report = adopt(clinvk)
    assert report["unchanged"] == 4 and report["adopted"] == []
    # the state is derived: lost, everything is read again and nothing adopted twice
    monkeypatch.undo()
    (clinvk.home / "adopt-state.json").unlink()
    report = adopt(clinvk)
    assert report["adopted"] == [] and report["updated"] == [] and report["unchanged"] == 0
    assert len(clinvk.sessions()) == 4


def _split(label: str) -> tuple[bytes, bytes]:
    """The sample's lines up to (not including) the second prompt, and the rest."""
    lines = (SAMPLES / f"{label}.jsonl").read_bytes().splitlines(keepends=True)
    cut = next(n for n, line in enumerate(lines) if b"second adopt question" in line)
    if label.startswith("codex"):  # the second turn starts after the first's task_complete
        cut = next(n for n, line in enumerate(lines) if b'"task_complete"' in line) + 1
    return b"".join(lines[:cut]), b"".join(lines[cut:])


@pytest.mark.parametrize("label", ["claude-2.1.330", "codex-0.169.0"])
def test_a_turn_adopted_while_it_ran_gets_its_whole_usage(clinvk: Clinvk, label: str) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    lines = (SAMPLES / f"{label}.jsonl").read_bytes().splitlines(keepends=True)
    reply = next(n for n, line in enumerate(lines) if b"MOCK " in line and b"REPLY" in line)
    path = place(clinvk.user_home, label, b"".join(lines[:reply]))  # the reply not written yet
    [entry] = adopt(clinvk)["adopted"]
    assert entry["usage_added"]["total_tokens"] < expected_turns(label)[0]["total_tokens"]
    path.write_bytes(b"".join(lines))
    [updated] = adopt(clinvk)["updated"]
    assert updated["turns_added"] == 1
    [record] = clinvk.sessions()
    assert [t["usage"] for t in record["turns"]] == expected_turns(label)
    totals = {k: sum(t[k] for t in expected_turns(label)) for k in USAGE_KEYS}
    assert record["token_usage"] == totals
    assert updated["usage_added"] == {k: totals[k] - entry["usage_added"][k] for k in USAGE_KEYS}


@pytest.mark.parametrize("label", ["claude-2.1.330", "codex-0.169.0"])
def test_turns_added_outside_are_appended(clinvk: Clinvk, label: str) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    head, tail = _split(label)
    path = place(clinvk.user_home, label, head)
    [entry] = adopt(clinvk)["adopted"]
    assert entry["turns_added"] == 1
    with path.open("ab") as fh:
        fh.write(tail)
    report = adopt(clinvk)
    assert report["adopted"] == []
    [updated] = report["updated"]
    assert updated["id"] == entry["id"] and updated["turns_added"] == 1
    assert updated["usage_added"] == expected_turns(label)[1]
    [record] = clinvk.sessions()
    assert record["turn_count"] == 2 and [t["prompt"] for t in record["turns"]] == [
        "first adopt question", "second adopt question"]
    assert [t["usage"] for t in record["turns"]] == expected_turns(label)


def test_damaged_file_is_skipped_once_then_adopted_when_whole(clinvk: Clinvk) -> None:
    data = (SAMPLES / "claude-2.1.330.jsonl").read_bytes()
    lines = data.splitlines(keepends=True)
    half = b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2]
    path = place(clinvk.user_home, "claude-2.1.330", half)
    first = clinvk.run("sessions", "adopt", "--json")
    assert first.code == 0
    [skipped] = first.json()["skipped"]
    assert skipped["path"] == str(path) and "not JSON" in skipped["reason"]
    assert first.err.count("clinvk: warning:") == 1 and str(path) in first.err
    second = clinvk.run("sessions", "adopt")
    assert second.code == 0 and "warning" not in second.err  # the same version: said once
    assert clinvk.sessions() == []
    path.write_bytes(data)
    [entry] = adopt(clinvk)["adopted"]
    assert entry["turns_added"] == 2


def test_a_conversation_without_a_prompt_is_not_adopted(clinvk: Clinvk) -> None:
    head = (SAMPLES / "gemini-0.61.0.jsonl").read_bytes().splitlines(keepends=True)[0]
    place(clinvk.user_home, "gemini-0.61.0", head)
    report = adopt(clinvk)
    assert report["adopted"] == [] and report["skipped"] == []


def _own_record(clinvk: Clinvk, label: str, **changes) -> dict:
    """A session of clinvk's own for the sample's conversation, turns as clinvk stamps
    them (a headless turn: at its end)."""
    from clinvk.backends.transcript import split_turns

    from clinvk.clock import parse_rfc3339
    from clinvk.store import SessionStore
    from clinvk.store.session import add_turn, new_session

    path = place(clinvk.user_home, label)
    transcript = get_adapter(label.split("-")[0]).native_transcript(
        path, {"HOME": str(clinvk.user_home)})
    turns = split_turns(transcript.messages)
    record = new_session(label.split("-")[0], WORK, backend_session_id=transcript.session_id,
                         now=parse_rfc3339(turns[0].time), **changes)
    for turn in turns:
        end = parse_rfc3339(turn.end_time)
        add_turn(record, prompt=turn.prompt, duration_ms=1500, exit_code=0,
                 usage=turn.usage.to_dict(), at=end)
    return SessionStore(clinvk.home).create(record)


def test_sessions_clinvk_recorded_are_never_adopted_twice(clinvk: Clinvk) -> None:
    own = _own_record(clinvk, "codex-0.169.0")
    report = adopt(clinvk)
    assert report["adopted"] == [] and report["updated"] == []
    assert clinvk.sessions() == [own] or [s["id"] for s in clinvk.sessions()] == [own["id"]]


def test_a_fork_is_not_given_the_history_it_started_from(clinvk: Clinvk) -> None:
    from clinvk.store import SessionStore

    own = _own_record(clinvk, "claude-2.1.330")
    store = SessionStore(clinvk.home)
    # as a fork's record: created after the conversation's first turn, holding the second
    store.update(own["id"], lambda r: r.update(turns=r["turns"][1:], turn_count=1,
                                               created_at=r["turns"][1]["at"]))
    report = adopt(clinvk)
    assert report["adopted"] == [] and report["updated"] == []


def test_two_adopts_at_once_make_no_duplicate(clinvk: Clinvk) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    place_all(clinvk.user_home)
    procs = [subprocess.Popen([sys.executable, "-m", "clinvk", "sessions", "adopt", "--json"],
                              env=clinvk.env, cwd=clinvk.cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(3)]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert sum(len(r["adopted"]) for r in reports) == 4
    assert all(r["updated"] == [] for r in reports)
    assert len(clinvk.sessions()) == 4


# --- adopt.auto -------------------------------------------------------------------------------


def test_list_search_and_stats_adopt_first(clinvk: Clinvk) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    place(clinvk.user_home, "codex-0.169.0")
    result = clinvk.run("sessions", "list")
    assert result.code == 0 and "first adopt question" in result.out
    place(clinvk.user_home, "claude-2.1.330")
    result = clinvk.run("sessions", "search", "first adopt", "--json")
    assert result.code == 0 and len(result.json()) == 2
    place(clinvk.user_home, "gemini-0.61.0")
    result = clinvk.run("sessions", "stats", "--json")
    assert result.code == 0 and result.json()["total"]["sessions"] == 3


def test_auto_adopt_can_be_turned_off(clinvk: Clinvk) -> None:
    place_all(clinvk.user_home)
    clinvk.config("adopt:\n  auto: false\n")
    assert clinvk.sessions() == []
    assert not (clinvk.home / "adopt-state.json").exists()


def test_auto_adopt_is_bounded_and_finishes_later(clinvk: Clinvk) -> None:
    place_all(clinvk.user_home)
    clinvk.config("adopt:\n  budget_ms: 0\n")
    counts = []
    for _ in range(6):
        counts.append(len(clinvk.sessions()))
    assert counts[0] < 4 and counts[-1] == 4 and counts == sorted(counts)


def test_auto_adopt_skips_a_busy_store_silently(clinvk: Clinvk) -> None:
    from lockholder import LockHolder

    place_all(clinvk.user_home)
    clinvk.config("adopt:\n  budget_ms: 600000\n")  # all at once, however loaded the machine
    holder = LockHolder(clinvk.home)
    try:
        result = clinvk.run("sessions", "list", "--json")
        assert result.code == 0 and result.json() == [] and result.err == ""
    finally:
        holder.release()
    assert len(clinvk.sessions()) == 4


def test_custom_backend_sessions_are_known_by_their_adapter(clinvk: Clinvk) -> None:
    clinvk.add_fake_backend("mine")  # adapter: claude
    own = _own_record(clinvk, "claude-2.1.330", )
    from clinvk.store import SessionStore

    SessionStore(clinvk.home).update(own["id"], lambda r: r.update(backend="mine"))
    report = adopt(clinvk, "-b", "claude")
    assert report["adopted"] == [] and report["updated"] == []


def test_store_files_left_alone(clinvk: Clinvk) -> None:
    clinvk.keep_old_sessions()  # the samples date from Nov 2026
    files = place_all(clinvk.user_home)
    before = {p: p.read_bytes() for p in files.values()}
    adopt(clinvk)
    assert {p: p.read_bytes() for p in files.values()} == before
    shutil.rmtree(clinvk.user_home / ".codex")
    report = adopt(clinvk)  # a conversation whose file went is kept
    assert report["adopted"] == [] and len(clinvk.sessions()) == 4


# --- a file read at any moment of its writing ---------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(label=st.sampled_from(LABELS), cut=st.floats(min_value=0, max_value=1))
def test_a_file_cut_anywhere_is_skipped_or_a_prefix(tmp_path_factory, label: str,
                                                    cut: float) -> None:
    """Whatever moment the CLI is caught writing at, the file is either refused as not
    whole, or read as the conversation so far: its prompts a prefix of the whole one's."""
    from clinvk.backends.transcript import TranscriptUnavailable, split_turns

    home = tmp_path_factory.mktemp("home")
    data = (SAMPLES / f"{label}.jsonl").read_bytes()
    adapter = get_adapter(label.split("-")[0])
    whole = split_turns(adapter.native_transcript(place(home, label), {"HOME": str(home)}).messages)
    path = place(home, label, data[: int(len(data) * cut)])
    try:
        transcript = adapter.native_transcript(path, {"HOME": str(home)})
    except TranscriptUnavailable:
        return
    turns = split_turns(transcript.messages)
    assert [t.prompt for t in turns] == [t.prompt for t in whole][: len(turns)]
    for part, full in zip(turns[:-1], whole, strict=False):
        assert part.usage == full.usage


def test_claude_compaction_summary_is_not_a_prompt(tmp_path: Path) -> None:
    from clinvk.backends.transcript import split_turns

    data = (SAMPLES / "claude-2.1.330.jsonl").read_text().splitlines()
    first = next(json.loads(line) for line in data if "first adopt question" in line)
    summary = {**first, "isCompactSummary": True, "uuid": "c0mpact",
               "message": {"role": "user", "content": "This session is being continued ..."}}
    path = place(tmp_path, "claude-2.1.330", ("\n".join([*data, json.dumps(summary)]) + "\n").encode())
    transcript = get_adapter("claude").native_transcript(path, {"HOME": str(tmp_path)})
    assert [t.prompt for t in split_turns(transcript.messages)] == [
        "first adopt question", "second adopt question"]


def test_an_archived_codex_thread_is_found_by_its_id(tmp_path):
    """A thread the user archived (codex moves its rollout to archived_sessions/) keeps its
    transcript readable: show --transcript, search and export find it there."""
    from clinvk.backends import get_adapter

    sample = (Path(__file__).parent / "samples" / "stores" / "codex-rollout.jsonl").read_bytes()
    thread = "01a20592-dc3e-72b0-bd0f-2803fb0461c4"
    env = {"HOME": str(tmp_path), "CODEX_HOME": str(tmp_path / "codex")}
    adapter = get_adapter("codex")
    assert adapter.session_files(thread, "/x", env) == []
    for where in ("archived_sessions", "archived_sessions/2026/11/22"):
        target = tmp_path / "codex" / where / f"rollout-2026-11-22T23-24-00-{thread}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(sample)
        assert target in adapter.session_files(thread, "/x", env)
        assert adapter.read_transcript(adapter.session_files(thread, "/x", env)).session_id == thread
        target.unlink()
    live = tmp_path / "codex" / "sessions/2026/11/22" / f"rollout-2026-11-22T23-24-00-{thread}.jsonl"
    live.parent.mkdir(parents=True)
    live.write_bytes(sample)
    assert adapter.session_files(thread, "/x", env) == [live]
