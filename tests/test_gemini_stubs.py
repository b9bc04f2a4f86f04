"""The removal of gemini's resume stubs (backends/gemini_stubs.py) on hand-made chat folders
and on the real sample chat file."""

from __future__ import annotations

import json
from pathlib import Path

from clinvk.backends.gemini_stubs import _NAME, remove_stubs, short_id, stubs_possible
from hypothesis import given
from hypothesis import strategies as st

SAMPLE = Path(__file__).resolve().parent / "samples" / "stores" / "gemini-chat.jsonl"
SID = "6d1ff7f4-05e9-4c3a-bca9-203bbd4076c8"
CONTEXT = {"id": "c1", "type": "user", "content": [{"text": "<session_context>\nsetup"}]}


def _write(path: Path, session_id: str, *records: dict) -> Path:
    head = {"sessionId": session_id, "projectHash": "h", "startTime": "t", "lastUpdated": "t"}
    lines = [head, *records]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def _stub(chats: Path, minute: str, session_id: str = SID) -> Path:
    return _write(chats / f"session-2026-11-23T{minute}-{session_id[:8]}.jsonl", session_id,
                  {"$set": {"messages": [CONTEXT]}})


def _real(chats: Path, minute: str, session_id: str = SID, *extra: dict) -> Path:
    return _write(chats / f"session-2026-11-23T{minute}-{session_id[:8]}.jsonl", session_id,
                  {"$set": {"messages": [CONTEXT]}},
                  {"id": "u1", "type": "user", "content": [{"text": "hello"}]}, *extra)


def test_a_stub_beside_the_conversation_goes_and_the_conversation_stays(tmp_path):
    real, stub = _real(tmp_path, "10-00"), _stub(tmp_path, "10-05")
    assert remove_stubs(tmp_path) == [stub]
    assert real.exists() and not stub.exists()


def test_lone_stubs_other_sessions_and_odd_files_are_left_alone(tmp_path):
    lone = _stub(tmp_path, "10-00", "aaaaaaaa-0000-0000-0000-000000000000")
    # same short id, another session: its stub has no conversation of its own to protect
    other = _stub(tmp_path, "10-01", SID[:8] + "-ffff-ffff-ffff-ffffffffffff")
    real = _real(tmp_path, "10-02")
    garbage = tmp_path / f"session-2026-11-23T10-03-{SID[:8]}.jsonl"
    garbage.write_text("not json\n")
    unrelated = tmp_path / "notes.txt"
    unrelated.write_text("x")
    assert remove_stubs(tmp_path) == []
    assert all(p.exists() for p in (lone, other, real, garbage, unrelated))


def test_a_reply_or_a_later_prompt_counts_as_conversation(tmp_path):
    only_reply = _write(tmp_path / f"session-2026-11-23T10-00-{SID[:8]}.jsonl", SID,
                        {"$set": {"messages": [CONTEXT]}},
                        {"id": "g1", "type": "gemini", "content": "an answer"})
    in_set = _write(tmp_path / f"session-2026-11-23T10-01-{SID[:8]}.jsonl", SID,
                    {"$set": {"messages": [CONTEXT, {"id": "u", "type": "user",
                                                     "content": "compressed history"}]}})
    assert remove_stubs(tmp_path) == []
    assert only_reply.exists() and in_set.exists()


def test_slash_commands_alone_are_no_conversation(tmp_path):
    _real(tmp_path, "10-00")
    command_only = _write(tmp_path / f"session-2026-11-23T10-09-{SID[:8]}.jsonl", SID,
                          {"id": "u", "type": "user", "content": [{"text": "/stats"}]})
    assert remove_stubs(tmp_path) == [command_only]


def test_a_big_file_counts_as_conversation_unread(tmp_path):
    big = _write(tmp_path / f"session-2026-11-23T10-00-{SID[:8]}.jsonl", SID,
                 {"type": "info", "content": "x" * (1 << 20)})
    stub = _stub(tmp_path, "10-05")
    assert remove_stubs(tmp_path) == [stub]
    assert big.exists()


def test_the_real_sample_is_conversation(tmp_path):
    first = json.loads(SAMPLE.read_text().splitlines()[0])
    copy = tmp_path / f"session-2026-11-23T10-00-{first['sessionId'][:8]}.jsonl"
    copy.write_bytes(SAMPLE.read_bytes())
    stub = _stub(tmp_path, "10-07", first["sessionId"])
    assert remove_stubs(tmp_path) == [stub]
    assert copy.exists()


def test_a_missing_folder_is_nothing_to_do(tmp_path):
    assert remove_stubs(tmp_path / "absent") == []


# -- the check before every gemini turn: file names only ------------------------------------

_NAME_PARTS = st.sampled_from(["session-", "2026-12-01T03-24-", "-", "abcdEF12", "_", ".jsonl",
                               ".json", "x", "\n", "é", "-12345678"])


@given(st.lists(_NAME_PARTS, max_size=8).map("".join) | st.text(max_size=40))
def test_short_id_reads_a_name_as_the_pattern_does(name):
    import re

    match = re.fullmatch(_NAME, name)
    assert short_id(name) == (match[1] if match else None) or (match is None and "\n" in name)


def test_stubs_are_possible_only_when_a_folder_has_two_files_of_one_session(tmp_path):
    chats = tmp_path / "tmp" / "proj" / "chats"
    chats.mkdir(parents=True)
    assert not stubs_possible(str(tmp_path))
    (chats / "session-2026-12-01T03-24-abcd1234.jsonl").write_text("{}\n")
    (chats / "session-2026-12-01T03-25-ffff0000.jsonl").write_text("{}\n")
    (tmp_path / "tmp" / "other" / "chats").mkdir(parents=True)
    (tmp_path / "tmp" / "other" / "chats" / "session-2026-12-01T03-26-abcd1234.jsonl").write_text("")
    assert not stubs_possible(str(tmp_path))  # the same short id in two projects: no stub
    (chats / "session-2026-12-01T03-27-abcd1234.jsonl").write_text("{}\n")
    assert stubs_possible(str(tmp_path))
    assert not stubs_possible(str(tmp_path / "missing"))


def test_a_linked_project_folder_is_looked_at_too(tmp_path):
    real = tmp_path / "elsewhere" / "chats"
    real.mkdir(parents=True)
    for minute in ("03-24", "03-27"):
        (real / f"session-2026-12-01T{minute}-abcd1234.jsonl").write_text("{}\n")
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "proj").symlink_to(tmp_path / "elsewhere")
    assert stubs_possible(str(tmp_path))
