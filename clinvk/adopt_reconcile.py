"""The recorder meets an adopt that ran while its turn was in flight.

clinvk records a new session when the backend names it (or at the turn's end), so an adopt
running meanwhile may have adopted the same conversation, or appended the running turn to
the session as an outside turn. Under the store's lock the recorder therefore
- takes over an adopted record of the same backend session id when it creates its own
  session (`take_over`: that record's turns outside the new turns' time windows are kept,
  the record itself removed: no duplicate), and
- drops the outside copies of its own turns before adding them (`drop_outside`: at most one
  per turn, of the same prompt, sent within the turn).
A turn's window is [at - duration - 2 s, at + duration + 2 s] (headless turns are stamped
at their end, interactive ones at their prompt).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from clinvk.clock import time_or_none, utc_now
from clinvk.usage_keys import USAGE_KEYS

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

if TYPE_CHECKING:
    from typing import Any

    from clinvk.pricing import PriceTable
    from clinvk.store import SessionStore

SLACK = timedelta(seconds=2)
Window = tuple[datetime, datetime]


def windows(turns: Iterable[dict[str, Any]]) -> list[Window]:
    """The time windows of turns (add_turn's fields, or stored turns); no `at` is now."""
    out = []
    for turn in turns:
        at = time_or_none(turn.get("at")) or utc_now()
        span = timedelta(milliseconds=max(0, int(turn.get("duration_ms") or 0)))
        out.append((at - span - SLACK, at + span + SLACK))
    return out


def _inside(turn: dict[str, Any], spans: list[Window]) -> bool:
    at = time_or_none(turn.get("at"))
    return at is not None and any(low <= at <= high for low, high in spans)


def _cost(turns: list[dict[str, Any]], model: str | None, prices: PriceTable | None) -> float:
    if prices is None:
        return 0.0
    found = (prices.estimate(model, turn.get("usage")) for turn in turns if turn.get("usage"))
    return float(sum((cost for cost in found if cost is not None), 0))


def _shift(record: dict[str, Any], turns: list[dict[str, Any]], sign: int,
           prices: PriceTable | None) -> None:
    """Add (sign 1) or take out (-1) these turns' counts, usage and estimated cost."""
    record["turn_count"] = max(0, int(record.get("turn_count") or 0) + sign * len(turns))
    totals = record.get("token_usage")
    if isinstance(totals, dict):
        for turn in turns:
            for key in USAGE_KEYS:
                value = int((turn.get("usage") or {}).get(key) or 0)
                totals[key] = max(0, int(totals.get(key) or 0) + sign * value)
    cost = _cost(turns, record.get("model"), prices)
    if cost and (record.get("cost_usd") is not None or sign > 0):
        record["cost_usd"] = max(0.0, round(float(record.get("cost_usd") or 0) + sign * cost, 10))
        record["cost_source"] = record.get("cost_source") or "estimated"


def _key(prompt: Any) -> str | None:
    """A prompt as compared with its copy: whitespace runs as one space, its first 100
    characters (the stored copy is clipped, the transcript's may differ in spacing)."""
    return " ".join(prompt.split())[:100] if isinstance(prompt, str) else None


def _copy_of(turn: dict[str, Any], stored: list[dict[str, Any]], taken: set[int]) -> int | None:
    """The index of the outside turn in `stored` that an adopt made of this turn while it ran:
    one whose prompt time lies within the turn (stamped to the second), with the same prompt
    when the turn's prompt is known, else the latest such one; None when there is none."""
    at = time_or_none(turn.get("at")) or utc_now()
    span = timedelta(milliseconds=max(0, int(turn.get("duration_ms") or 0)))
    low, high = at - span - timedelta(seconds=1), at + timedelta(seconds=2)
    key = _key(turn.get("prompt"))
    found = None
    for n, other in enumerate(stored):
        when = time_or_none(other.get("at"))
        if n in taken or other.get("outside") is not True or when is None or not low <= when <= high:
            continue
        if key is not None and _key(other.get("prompt")) != key:
            continue
        found = n
        if key is not None:
            break
    return found


def drop_outside(record: dict[str, Any], turns: Iterable[dict[str, Any]],
                 prices: PriceTable | None = None) -> dict[str, Any]:
    """The record without the outside copies an adopt made of these turns while they ran: at
    most one per turn, never an outside turn of another prompt or sent before the turn."""
    stored = record.get("turns") or []
    taken: set[int] = set()
    for turn in turns:
        n = _copy_of(turn, stored, taken)
        if n is not None:
            taken.add(n)
    if taken:
        record["turns"] = [t for n, t in enumerate(stored) if n not in taken]
        _shift(record, [stored[n] for n in sorted(taken)], -1, prices)
    return record


def take_over(store: SessionStore, record: dict[str, Any],
              prices: PriceTable | None = None) -> dict[str, Any]:
    """Under the store's lock, before `record` (a new session of clinvk's) is created: the
    adopted records of its backend session id are merged into it and removed."""
    from clinvk.store.delete import delete
    from clinvk.store.queries import backend_sessions

    backend_id = record.get("backend_session_id")
    if not backend_id or not store.root.is_dir():
        return record
    spans = windows(record.get("turns") or [])
    for row in backend_sessions(store, backend_id):
        if row.id == record["id"]:
            continue
        other = store.get(row.id)
        if other.get("origin") != "adopted":
            continue
        kept = [t for t in other.get("turns") or [] if not _inside(t, spans)]
        record["turns"] = sorted([*kept, *(record.get("turns") or [])],
                                 key=lambda t: time_or_none(t.get("at")) or utc_now())
        _shift(record, kept, 1, prices)
        record["created_at"] = min(record["created_at"], other["created_at"],
                                   key=lambda s: time_or_none(s) or utc_now())
        record["model"] = record.get("model") or other.get("model")
        delete(store, row.id)
    return record
