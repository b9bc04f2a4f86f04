"""A backend's conversation (a `Transcript` split into turns) as clinvk records it: a new
session of origin "adopted", or the turns of a known session that clinvk did not record
(`outside: true`). Click-free and store-free: records in, records out.

A recorded turn covers the conversation's turns whose prompt was sent within
[at - duration_ms - 2 s, at + 2 s] (a headless turn is stamped when it ends, an interactive
or adopted one when its prompt was sent); turns sent before the session was created (the
history a fork or a hand-over started from) are not outside turns either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from clinvk.backends.transcript import Transcript, TranscriptTurn
from clinvk.clock import format_rfc3339, parse_rfc3339
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


def _time(value: str | None) -> datetime | None:
    try:
        return parse_rfc3339(value) if value else None
    except ValueError:
        return None


def timed_turns(turns: list[TranscriptTurn], fallback: datetime) -> list[TimedTurn]:
    """The turns with times: the prompt's own, else the previous turn's, else `fallback`."""
    out: list[TimedTurn] = []
    last = None
    for turn in turns:
        at = _time(turn.time)
        known = at is not None
        at = at or last or fallback
        end = max(at, _time(turn.end_time) or at)
        out.append(TimedTurn(turn, at, end, known))
        last = end
    return out


def message_span(transcript: Transcript, turns: list[TimedTurn]) -> tuple[datetime, datetime]:
    """(first message, last message) of the conversation."""
    stamps = [t for t in (_time(m.time) for m in transcript.messages) if t is not None]
    stamps += [t.at for t in turns] + [t.end for t in turns]
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


def _windows(record: dict[str, Any]) -> list[tuple[datetime, datetime]]:
    out = []
    for turn in record.get("turns") or []:
        at = _time(turn.get("at"))
        if at is None:
            continue
        duration = timedelta(milliseconds=int(turn.get("duration_ms") or 0))
        out.append((at - duration - SLACK, at + SLACK))
    return out


def uncovered(records: list[dict[str, Any]], turns: list[TimedTurn]) -> list[TimedTurn]:
    """The turns of the conversation that none of these records (the sessions of one backend
    session id) holds: the outside turns to append."""
    windows = [w for record in records for w in _windows(record)]
    starts = [_time(r.get("created_at")) for r in records if r.get("origin") != "adopted"]
    born = min((s for s in starts if s is not None), default=None)
    out = []
    for timed in turns:
        if not timed.known_time:
            continue  # cannot tell whether it is recorded: never a duplicate
        if born is not None and timed.at < born - SLACK:
            continue
        if any(low <= timed.at <= high for low, high in windows):
            continue
        out.append(timed)
    return out


def append_outside(record: dict[str, Any], turns: list[TimedTurn], model: str | None,
                   options: BuildOptions) -> dict[str, Any]:
    """The record with these outside turns added, all turns in time order; its status,
    error and last use change only when the new turns are its latest."""
    before = (record.get("status"), record.get("error"), record.get("last_used"))
    latest = _time(before[2])
    newest = max(t.end for t in turns)
    for timed in turns:
        add_outside(record, timed, model or record.get("model"), options)
    record["turns"] = sorted(record["turns"], key=lambda t: _time(t.get("at")) or newest)
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


def summary(record: dict[str, Any], turns: list[TimedTurn]) -> dict[str, Any]:
    """One entry of `sessions adopt --json`'s "adopted" or "updated"."""
    return {"id": record["id"], "backend": record["backend"],
            "backend_session_id": record.get("backend_session_id"),
            "working_dir": record["working_dir"], "title": record.get("title") or "",
            "turns_added": len(turns), "usage_added": summed_usage(turns)}
