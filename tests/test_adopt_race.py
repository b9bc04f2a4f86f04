"""An adopt that runs while a turn of clinvk's is in flight: the recorder takes over an
adopted record of its conversation, and drops the outside copies of its own turns."""

from __future__ import annotations

from pathlib import Path

from clinvk.backends import get_adapter
from clinvk.backends.transcript import split_turns
from conftest import Clinvk
from test_adopt import WORK, adopt, expected_turns, place

from clinvk.clock import parse_rfc3339
from clinvk.recorder import Recorder
from clinvk.store import SessionStore
from clinvk.store.session import add_turn, new_session

LABEL = "claude-2.1.330"


def _turns(clinvk: Clinvk):
    clinvk.keep_old_sessions()  # the sample's dates (Nov 2026) age past retention_days
    path = place(clinvk.user_home, LABEL)
    transcript = get_adapter("claude").native_transcript(path, {"HOME": str(clinvk.user_home)})
    return transcript.session_id, split_turns(transcript.messages)


def _ours(turn, **extra) -> dict:
    """The turn as a headless clinvk turn finishes it: stamped at its end."""
    return {"prompt": turn.prompt, "duration_ms": 1500, "exit_code": 0,
            "usage": turn.usage.to_dict(), "cost_usd": None,
            "at": parse_rfc3339(turn.end_time), **extra}


def test_a_new_session_takes_over_the_adopted_record(clinvk: Clinvk) -> None:
    sid, turns = _turns(clinvk)
    [adopted] = adopt(clinvk)["adopted"]  # the adopt ran while our second turn was in flight
    store = SessionStore(clinvk.home)
    record = new_session("claude", WORK, now=parse_rfc3339(turns[1].time))
    recorder = Recorder(store, record, exists=False)
    recorder.identify(sid, "claude-opus-5-5")
    ours = recorder.finish(**_ours(turns[1]))
    [only] = clinvk.sessions()
    assert only["id"] == ours["id"] != adopted["id"] and only["origin"] == "clinvk"
    assert [t["prompt"] for t in only["turns"]] == ["first adopt question", "second adopt question"]
    assert [t.get("outside", False) for t in only["turns"]] == [True, False]
    assert only["turn_count"] == 2
    assert [t["usage"] for t in only["turns"]] == expected_turns(LABEL)
    assert only["created_at"] == adopted_created(turns)
    assert adopt(clinvk)["adopted"] == []  # and the next adopt finds it known


def adopted_created(turns) -> str:
    from clinvk.clock import format_rfc3339

    return format_rfc3339(parse_rfc3339(turns[0].time))


def test_started_takes_over_too(clinvk: Clinvk) -> None:
    sid, turns = _turns(clinvk)
    adopt(clinvk)
    store = SessionStore(clinvk.home)
    recorder = Recorder(store, new_session("claude", WORK), exists=False)
    recorder.started(sid, "claude-opus-5-5")
    [only] = clinvk.sessions()
    assert only["id"] == recorder.record["id"] and only["turn_count"] == 2
    # the turn then ends: its outside copy (the adopt's) gives way to it
    recorder.finish(**_ours(turns[1]))
    [only] = clinvk.sessions()
    assert [t.get("outside", False) for t in only["turns"]] == [True, False]
    assert [t["usage"] for t in only["turns"]] == expected_turns(LABEL)


def test_a_resumed_turn_drops_its_outside_copy(clinvk: Clinvk) -> None:
    sid, turns = _turns(clinvk)
    store = SessionStore(clinvk.home)
    record = new_session("claude", WORK, backend_session_id=sid, now=parse_rfc3339(turns[0].time))
    add_turn(record, **{k: v for k, v in _ours(turns[0]).items()})
    own = store.create(record)
    [updated] = adopt(clinvk)["updated"]  # the second turn, while it ran
    assert updated["id"] == own["id"] and updated["turns_added"] == 1
    recorder = Recorder(store, store.get(own["id"]), exists=True)
    recorder.finish(**_ours(turns[1]))
    [only] = clinvk.sessions()
    assert only["turn_count"] == 2
    assert not any(t.get("outside") for t in only["turns"])
    assert only["token_usage"]["total_tokens"] == sum(
        t["total_tokens"] for t in expected_turns(LABEL))
    assert adopt(clinvk)["updated"] == []


def test_turns_outside_the_window_are_kept(clinvk: Clinvk, tmp_path: Path) -> None:
    sid, turns = _turns(clinvk)
    store = SessionStore(clinvk.home)
    record = new_session("claude", WORK, backend_session_id=sid, now=parse_rfc3339(turns[0].time))
    own = store.create(record)
    adopt(clinvk)  # both turns appended as outside turns
    later = _ours(turns[1])
    later["at"] = parse_rfc3339("2030-01-01T00:00:00Z")
    Recorder(store, store.get(own["id"]), exists=True).finish(**later)
    [only] = clinvk.sessions()
    assert [t.get("outside", False) for t in only["turns"]] == [True, True, False]
