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


# --- the recorder's side: drop_outside removes only the adopt's copy of its own turn ----------

def _stored(*turns: tuple[str, str, int, bool]) -> dict:
    out = [{"at": at, "prompt": prompt, "duration_ms": ms, "exit_code": 0,
            "usage": {"input_tokens": 10, "output_tokens": 1}, **({"outside": True} if o else {})}
           for prompt, at, ms, o in turns]
    return {"turn_count": len(out), "token_usage": {"input_tokens": 10 * len(out),
                                                    "output_tokens": len(out)}, "turns": out}


def test_a_direct_turn_just_before_a_clinvk_turn_is_kept() -> None:
    from clinvk.adopt_reconcile import drop_outside

    # found by tests/test_e2e_adopt.py: a turn sent directly 2 s before clinvk's next one
    record = _stored(("made by clinvk", "2026-11-30T19:51:35Z", 855, False),
                     ("outside", "2026-11-30T19:51:36Z", 89, True))
    drop_outside(record, [{"at": "2026-11-30T19:51:38Z", "duration_ms": 670,
                           "prompt": "clinvk again"}])
    assert [t["prompt"] for t in record["turns"]] == ["made by clinvk", "outside"]
    assert record["turn_count"] == 2


def test_the_adopts_copy_of_the_running_turn_is_dropped_once() -> None:
    from clinvk.adopt_reconcile import drop_outside

    record = _stored(("first", "2026-11-30T19:51:30Z", 500, False),
                     ("same words", "2026-11-30T19:51:37Z", 0, True),
                     ("same words", "2026-11-30T19:51:37Z", 0, True))
    drop_outside(record, [{"at": "2026-11-30T19:51:38Z", "duration_ms": 900,
                           "prompt": "same  words"}])
    assert [t.get("outside", False) for t in record["turns"]] == [False, True]
    assert record["turn_count"] == 2 and record["token_usage"]["input_tokens"] == 20


def test_an_outside_turn_of_another_prompt_inside_the_turn_is_kept() -> None:
    from clinvk.adopt_reconcile import drop_outside

    record = _stored(("other", "2026-11-30T19:51:37Z", 0, True))
    drop_outside(record, [{"at": "2026-11-30T19:51:38Z", "duration_ms": 2000, "prompt": "mine"}])
    assert len(record["turns"]) == 1
    # no prompt kept (session.store_prompts: false): the copy is taken by its time alone
    record = _stored(("x", "2026-11-30T19:51:37Z", 0, True))
    record["turns"][0]["prompt"] = None
    drop_outside(record, [{"at": "2026-11-30T19:51:38Z", "duration_ms": 2000, "prompt": None}])
    assert record["turns"] == []


def test_a_forks_copied_history_is_not_outside() -> None:
    # a fork clinvk made (parent_id): its transcript opens with the parent's turns, copied
    record = {**_record(("forked turn", "2026-11-30T19:44:30Z", 0)),
              "created_at": "2026-11-30T19:44:30Z", "parent_id": "a" * 32}
    turns = [_turn("first", T0), _turn("forked turn", T0 + timedelta(seconds=1)),
             _turn("later, directly", T0 + timedelta(seconds=9))]
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["later, directly"]
    record.pop("parent_id")  # no fork: a turn just before clinvk's first is still outside
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["first", "later, directly"]


def test_a_long_prompt_is_matched_by_its_stored_beginning() -> None:
    # found by test_e2e_long_prompts: a fork with a 300 kB piped prompt right after a turn
    long = "fork MARK:fork\n\n" + "lorem ipsum " * 30_000
    from clinvk.store.session import clip_prompt

    record = {**_record((clip_prompt(long), "2026-11-30T19:44:31Z", 1500)),
              "created_at": "2026-11-30T19:44:29Z", "parent_id": "a" * 32}
    turns = [_turn("history", T0 + timedelta(milliseconds=900)),
             _turn(long, T0 + timedelta(milliseconds=1200))]
    assert uncovered([record], turns) == []
    record.pop("parent_id")
    assert [t.turn.prompt for t in uncovered([record], turns)] == ["history"]


def test_an_outside_turn_is_compared_with_its_own_prompt_of_that_second() -> None:
    # found by test_e2e_adopt on codex: clinvk's turn and a direct one in the same second
    from clinvk.backends.usage import Usage

    from clinvk.adopt_build import stale_outside

    def timed(prompt: str, ms: int, tokens: int) -> TimedTurn:
        at = T0 + timedelta(milliseconds=ms)
        return TimedTurn(TranscriptTurn(prompt, at.isoformat(), at.isoformat(),
                                        Usage(input_tokens=tokens), None),
                         at, at + timedelta(milliseconds=50), True)

    turns = [timed("mine", 0, 596), timed("direct", 100, 599)]
    record = {"turns": [{"at": "2026-11-30T19:44:28Z", "prompt": "mine", "duration_ms": 900},
                        {"at": "2026-11-30T19:44:28Z", "prompt": "direct", "duration_ms": 50,
                         "outside": True, "usage": {**Usage(input_tokens=599).to_dict()}}]}
    assert stale_outside(record, turns) == []
