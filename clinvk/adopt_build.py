"""A backend's conversation (a `Transcript` split into turns) as clinvk records it: a new
session of origin "adopted", or the turns of a known session that clinvk did not record
(`outside: true`). Click-free and store-free: records in, records out.

A turn clinvk ran covers the conversation's turns whose prompt was sent within
[at - duration_ms - 2 s, at + 2 s] (a headless turn is stamped when it ends, an interactive
one when its prompt was sent); a turn taken from the transcript before (`outside`) covers
one turn whose prompt has its time (to the second); turns sent before a session of
clinvk's was created (the history a fork or a hand-over started from) are not outside
turns either.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from clinvk.backends.transcript import Transcript, TranscriptTurn
from clinvk.clock import format_rfc3339, time_or_none
from clinvk.store import session as sessions
from clinvk.usage_keys import USAGE_KEYS, normalise_usage

if TYPE_CHECKING:
    from clinvk.pricing import PriceTable

SLACK = timedelta(seconds=2)
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class BuildOptions:
    """The settings an adopted turn is recorded with (as the recorder's)."""

    store_prompts: bool = True
    store_usage: bool = True
    prices: PriceTable | None = None


@dataclass(frozen=True)
class TimedTurn:
    """A conversation's turn with its times resolved (the file's time where it has none)."""

    turn: TranscriptTurn
    at: datetime
    end: datetime
    known_time: bool  # the store gave the prompt's own time


def timed_turns(turns: list[TranscriptTurn], fallback: datetime) -> list[TimedTurn]:
    """The turns with times: the prompt's own, else the previous turn's, else `fallback`."""
    out: list[TimedTurn] = []
    last = None
    for turn in turns:
        at = time_or_none(turn.time)
        known = at is not None
        at = at or last or fallback
        end = max(at, time_or_none(turn.end_time) or at)
        out.append(TimedTurn(turn, at, end, known))
        last = end
    return out


def message_span(transcript: Transcript, turns: list[TimedTurn]) -> tuple[datetime, datetime]:
    """(first message, last message) of the conversation (the first and the last message
    that has a time, and its turns')."""
    timed = [m.time for m in transcript.messages if m.time]
    stamps = [t for t in (time_or_none(timed[0]), time_or_none(timed[-1])) if t is not None] if timed else []
    stamps += [turns[0].at, turns[-1].end]
    return min(stamps), max(stamps)


def new_record(backend: str, transcript: Transcript, turns: list[TimedTurn],
               options: BuildOptions) -> dict[str, Any]:
    """A new session of origin "adopted" holding every turn of the conversation."""
    first, last = message_span(transcript, turns)
    record = sessions.new_session(
        backend, transcript.working_dir or "/", model=transcript.model, now=first,
        backend_session_id=transcript.session_id, store_usage=options.store_usage,
        origin="adopted")
    for timed in turns:
        add_outside(record, timed, transcript.model, options)
    record["last_used"] = format_rfc3339(last)
    return record


def _key(prompt: str) -> str:
    """A prompt as compared with the copy a record keeps: whitespace runs as one space, its
    first 100 characters (the record's copy is clipped to 200, a piped prompt's is long)."""
    return " ".join(prompt.split())[:100]


def clean_text(text: str) -> str:
    """A prompt as it can be stored: lone surrogates (from JSON escapes) replaced."""
    return _SURROGATE.sub("\ufffd", text)


def add_outside(record: dict[str, Any], timed: TimedTurn, model: str | None,
                options: BuildOptions) -> None:
    """Append one turn of the conversation, marked `outside: true`, with its estimated cost."""
    turn = timed.turn
    usage = turn.usage.to_dict()
    cost = None
    if options.store_usage and options.prices is not None:
        cost = options.prices.estimate(turn.model or model or record.get("model"),
                                       normalise_usage(usage))
    duration = int((timed.end - timed.at).total_seconds() * 1000)
    sessions.add_turn(record, prompt=clean_text(turn.prompt), duration_ms=duration, exit_code=0,
                      usage=usage, cost_usd=float(cost) if cost is not None else None,
                      cost_estimated=cost is not None, at=timed.at,
                      store_prompt=options.store_prompts, store_usage=options.store_usage)
    record["turns"][-1]["outside"] = True


def _windows(record: dict[str, Any]) -> list[tuple[datetime, datetime, str | None]]:
    """The time windows of the turns clinvk ran itself (not those taken from a transcript),
    with their prompts."""
    out = []
    for turn in record.get("turns") or []:
        at = time_or_none(turn.get("at"))
        if at is None or turn.get("outside") is True:
            continue
        duration = timedelta(milliseconds=int(turn.get("duration_ms") or 0))
        out.append((at - duration - SLACK, at + SLACK, turn.get("prompt")))
    return out


def _claim(windows: list[tuple[datetime, datetime, str | None]], used: list[bool],
           timed: TimedTurn) -> bool:
    """Take a free window of a turn clinvk ran that holds this conversation turn and whose
    recorded prompt is the turn's."""
    prompt = _key(clean_text(timed.turn.prompt))
    for n, (low, high, recorded) in enumerate(windows):
        if not used[n] and low <= timed.at <= high and (
                recorded is not None and _key(recorded) == prompt):
            used[n] = True
            return True
    return False


def _claim_by_time(windows: list[tuple[datetime, datetime, str | None]], used: list[bool],
                   turns: list[TimedTurn]) -> list[TimedTurn]:
    """The turns left once each free window (no prompt to go by) took the one sent nearest
    its turn's start (a turn's own prompt is sent as it starts; a prompt sent just after it
    ended, or the history a fork copied, lies further away)."""
    left = list(turns)
    for n, (low, high, _prompt) in enumerate(windows):
        inside = [t for t in left if low <= t.at <= high]
        if used[n] or not inside:
            continue
        start = low + SLACK
        best = min(inside, key=lambda t: abs((t.at - start).total_seconds()))
        used[n] = True
        left = [t for t in left if t is not best]
    return left


def uncovered(records: list[dict[str, Any]], turns: list[TimedTurn]) -> list[TimedTurn]:
    """The turns of the conversation that none of these records (the sessions of one backend
    session id) holds: the outside turns to append."""
    windows = [w for record in records for w in _windows(record)]
    used = [False] * len(windows)
    taken = Counter(t.get("at") for record in records for t in record.get("turns") or []
                    if t.get("outside") is True)  # one each: the prompt's time, to the second
    starts = [time_or_none(r.get("created_at")) for r in records if r.get("origin") != "adopted"]
    born = min((s for s in starts if s is not None), default=None)
    out = []
    for timed in turns:
        stamp = format_rfc3339(timed.at)
        if taken[stamp] > 0:
            taken[stamp] -= 1
            continue
        if not timed.known_time:
            continue  # cannot tell whether it is recorded: never a duplicate
        if born is not None and timed.at < born - SLACK:
            continue
        out.append(timed)
    # each turn clinvk ran covers one conversation turn: the one with its prompt first
    rest = [t for t in out if not _claim(windows, used, t)]
    rest = _claim_by_time(windows, used, rest)
    if any(r.get("parent_id") and r.get("origin") != "adopted" for r in records):
        rest = _after_copied_history(turns, out, rest)
    return rest


def _after_copied_history(turns: list[TimedTurn], out: list[TimedTurn],
                          rest: list[TimedTurn]) -> list[TimedTurn]:
    """A fork clinvk made starts with the history it copied: the conversation's turns before
    the first one a turn of clinvk's covers are that copy, not turns made outside."""
    place = {id(t): n for n, t in enumerate(turns)}
    left = {id(t) for t in rest}
    claimed = [place[id(t)] for t in out if id(t) not in left]
    if not claimed:
        return rest
    return [t for t in rest if place[id(t)] > min(claimed)]


def stale_outside(record: dict[str, Any], turns: list[TimedTurn]) -> list[tuple[int, TimedTurn]]:
    """(index, the conversation's turn) of the record's outside turns whose conversation
    turn has grown since it was taken (adopted while it ran): other usage or duration."""
    by_stamp: dict[str, list[TimedTurn]] = {}
    for timed in turns:
        by_stamp.setdefault(format_rfc3339(timed.at), []).append(timed)
    out = []
    for n, turn in enumerate(record.get("turns") or []):
        found = by_stamp.get(turn.get("at")) if turn.get("outside") is True else None
        if not found:
            continue
        # several prompts in one second (a clinvk turn, then one sent directly): its own
        same = [t for t in found if isinstance(turn.get("prompt"), str)
                and _key(clean_text(t.turn.prompt)) == _key(turn["prompt"])]
        timed = same[0] if same else found[0]
        found.remove(timed)
        usage = normalise_usage(timed.turn.usage.to_dict())
        stored = turn.get("usage")
        if (stored is not None and stored != usage) or turn.get("duration_ms") != _ms(timed):
            out.append((n, timed))
    return out


def _ms(timed: TimedTurn) -> int:
    return int((timed.end - timed.at).total_seconds() * 1000)


def refresh_outside(record: dict[str, Any], stale: list[tuple[int, TimedTurn]], model: str | None,
                    options: BuildOptions) -> dict[str, int]:
    """Give these outside turns their conversation turn's usage and duration (totals and
    estimated cost follow); returns the usage added."""
    added = dict.fromkeys(USAGE_KEYS, 0)
    model = model or record.get("model")
    for n, timed in stale:
        turn = record["turns"][n]
        turn["duration_ms"] = _ms(timed)
        if turn.get("usage") is None:
            continue
        old, new = turn["usage"], normalise_usage(timed.turn.usage.to_dict()) or {}
        turn["usage"] = new
        totals = record.setdefault("token_usage", dict.fromkeys(USAGE_KEYS, 0))
        for key in USAGE_KEYS:
            delta = int(new.get(key, 0)) - int(old.get(key, 0))
            added[key] += delta
            totals[key] = max(0, int(totals.get(key) or 0) + delta)
        _recost(record, old, new, model, options)
    return added


def _recost(record: dict[str, Any], old: dict[str, int], new: dict[str, int], model: str | None,
            options: BuildOptions) -> None:
    if options.prices is None:
        return
    before, after = options.prices.estimate(model, old), options.prices.estimate(model, new)
    if after is None:
        return
    cost = float(record.get("cost_usd") or 0) + float(after) - float(before or 0)
    record["cost_usd"] = round(max(0.0, cost), 10)
    record["cost_source"] = "estimated"


def append_outside(record: dict[str, Any], turns: list[TimedTurn], model: str | None,
                   options: BuildOptions) -> dict[str, Any]:
    """The record with these outside turns added, all turns in time order; its status,
    error and last use change only when the new turns are its latest."""
    if not turns:
        return record
    before = (record.get("status"), record.get("error"), record.get("last_used"))
    latest = time_or_none(before[2])
    newest = max(t.end for t in turns)
    for timed in turns:
        add_outside(record, timed, model or record.get("model"), options)
    record["turns"] = sorted(record["turns"], key=lambda t: time_or_none(t.get("at")) or newest)
    if latest is not None and newest < latest:
        record["status"], record["error"], record["last_used"] = before
    else:
        record["last_used"] = format_rfc3339(newest)
        record["status"], record["error"] = "active", None
    if not record.get("model") and model:
        record["model"] = model
    return record


def summed_usage(turns: list[TimedTurn]) -> dict[str, int]:
    """The usage of these turns together, in SPEC's shape."""
    total = dict.fromkeys(USAGE_KEYS, 0)
    for timed in turns:
        for key, value in timed.turn.usage.to_dict().items():
            total[key] = total.get(key, 0) + int(value)
    return total


def summary(record: dict[str, Any], turns: list[TimedTurn],
            grown: dict[str, int] | None = None) -> dict[str, Any]:
    """One entry of `sessions adopt --json`'s "adopted" or "updated": the turns added, and
    the usage they (and the outside turns that `grown`) added."""
    usage = summed_usage(turns)
    for key, value in (grown or {}).items():
        usage[key] = usage.get(key, 0) + value
    return {"id": record["id"], "backend": record["backend"],
            "backend_session_id": record.get("backend_session_id"),
            "working_dir": record["working_dir"], "title": record.get("title") or "",
            "turns_added": len(turns), "usage_added": usage}
