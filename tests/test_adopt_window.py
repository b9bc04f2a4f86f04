"""adopt_build.uncovered: a turn clinvk ran covers ONE turn of the conversation, so a turn
sent directly within seconds of it (a script running `codex exec resume` right after a
clinvk turn; found by tests/test_e2e_adopt.py) is still appended as an outside turn."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from clinvk.backends.transcript import TranscriptTurn
from clinvk.backends.usage import Usage

from clinvk.adopt_build import TimedTurn, uncovered

T0 = datetime(2026, 11, 30, 19, 44, 28, 891000, tzinfo=timezone.utc)


def _turn(prompt: str, at: datetime) -> TimedTurn:
    stamp = at.isoformat()
    return TimedTurn(TranscriptTurn(prompt, stamp, stamp, Usage(), None), at,
                     at + timedelta(milliseconds=80), True)


def _record(*turns: tuple[str, str, int]) -> dict:
    return {"origin": "clinvk", "created_at": "2026-11-30T19:44:28Z",
            "turns": [{"at": at, "prompt": prompt, "duration_ms": ms} for prompt, at, ms in turns]}


def test_a_direct_turn_right_after_a_clinvk_turn_is_outside() -> None:
    # clinvk's headless turn: stamped at its end (to the second), 506 ms long
    record = _record(("made by clinvk", "2026-11-30T19:44:29Z", 506))
    turns = [_turn("made by clinvk", T0), _turn("outside", T0 + timedelta(milliseconds=631))]
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["outside"]


def test_the_prompt_picks_the_turn_a_window_covers() -> None:
    record = _record(("second", "2026-11-30T19:44:29Z", 300))
    turns = [_turn("first", T0), _turn("second", T0 + timedelta(milliseconds=200))]
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["first"]


def test_without_stored_prompts_each_window_still_covers_one_turn() -> None:
    record = _record(("", "2026-11-30T19:44:29Z", 300))
    record["turns"][0].pop("prompt")
    turns = [_turn("a", T0), _turn("b", T0 + timedelta(milliseconds=200))]
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["b"]
    assert uncovered([record], turns[:1]) == []
