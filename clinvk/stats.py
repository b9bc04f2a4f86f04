"""`sessions stats`: sessions, turns, tokens, cache-hit ratio, turn durations and cost,
grouped by backend, model, day or directory. Computed in one query over the index (which
keeps each session's recorded totals and turn durations), never by reading the session
files, so it stays fast at 100k sessions. The figures are the recorded ones: token totals
are the sums of the sessions' `token_usage`, to the token. No Click here."""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clinvk.errors import UsageError

if TYPE_CHECKING:
    from clinvk.filters import SessionFilter
    from clinvk.store import SessionStore

# SQL for each grouping; day is the UTC date of the session's last use
# "+" keeps SQLite from walking an index in key order with a table read per row, which is
# slower than a scan and a sort (unfiltered totals by backend come from stats_totals)
GROUPS = {
    "backend": "+backend",
    "model": "+model",
    "day": "date(last_used / 1000000, 'unixepoch')",
    "dir": "+working_dir",
}
TOKEN_FIELDS = ("input_tokens", "cached_input_tokens", "cache_creation_input_tokens",
                "output_tokens", "reasoning_tokens", "total_tokens")
_SQL = (
    "SELECT {key}, count(*), sum(turn_count), sum(input_tokens), sum(cached_tokens), "
    "sum(cache_creation_tokens), sum(output_tokens), sum(reasoning_tokens), sum(total_tokens), "
    "sum(cost_usd), count(cost_usd), group_concat(substr(durations, 2, length(durations) - 2)) "
    "FILTER (WHERE durations != '[]') "
    "FROM sessions{{where}} GROUP BY 1"
)


def check_by(by: str | None) -> str | None:
    if by is not None and by not in GROUPS:
        raise UsageError(f"invalid grouping {by!r}: use one of {', '.join(GROUPS)} (e.g. --by backend)")
    return by


def percentile(values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of sorted values; None when there are none."""
    if not values:
        return None
    return values[max(0, math.ceil(fraction * len(values)) - 1)]


def kth(runs: list[list[int]], k: int) -> int:
    """The k-th smallest (1-based) of several sorted lists, without merging them: a binary
    search over the values (O(len(runs) * log(n) * log(range)))."""
    if len(runs) == 1:
        return runs[0][k - 1]
    lo, hi = min(r[0] for r in runs if r), max(r[-1] for r in runs if r)
    while lo < hi:
        mid = (lo + hi) // 2
        if sum(bisect_right(r, mid) for r in runs) >= k:
            hi = mid
        else:
            lo = mid + 1
    return lo


def durations_summary(n: int, kth_of: Callable[[int], int]) -> dict[str, Any]:
    """Median and nearest-rank p95 of n durations, given kth_of(k): the k-th smallest
    (1-based). An even count's median is the mean of the two middle values."""
    if not n:
        return {"median": None, "p95": None, "turns_timed": 0}
    median = kth_of((n + 1) // 2) if n % 2 else (kth_of(n // 2) + kth_of(n // 2 + 1)) / 2
    return {"median": median, "p95": kth_of(max(1, math.ceil(0.95 * n))), "turns_timed": n}


def _durations_summary(runs: list[list[int]]) -> dict[str, Any]:
    return durations_summary(sum(len(r) for r in runs), lambda k: kth(runs, k))


def summarise(key: Any, sessions: int, turns: int, tokens: dict[str, int],
              cost: float | None, cost_sessions: int,
              runs: list[list[int]] | dict[str, Any]) -> dict[str, Any]:
    """One group's figures, raw (the shape of `stats --json`); runs: sorted duration lists,
    or their durations_summary already made."""
    inp = tokens["input_tokens"]
    durations = runs if isinstance(runs, dict) else _durations_summary([r for r in runs if r])
    return {
        "key": key, "sessions": sessions, "turns": turns, "tokens": tokens,
        "cache_hit_ratio": tokens["cached_input_tokens"] / inp if inp else None,
        "duration_ms": durations,
        "cost_usd": None if not cost_sessions else round(cost or 0.0, 10),
        "cost_sessions": cost_sessions,
    }


def _durations(text: str | None) -> list[int]:
    """Sorted turn durations from the index's JSON arrays, joined by commas."""
    return sorted(json.loads(f"[{text}]")) if text else []


def merge(groups: list[dict[str, Any]],
          durations: list[list[int]] | dict[str, Any]) -> dict[str, Any]:
    """The total of groups; durations: every group's sorted durations, or their summary."""
    costs = [g["cost_usd"] for g in groups if g["cost_usd"] is not None]
    tokens = {f: sum(g["tokens"][f] for g in groups) for f in TOKEN_FIELDS}
    return summarise(None, sum(g["sessions"] for g in groups), sum(g["turns"] for g in groups),
                     tokens, sum(costs) if costs else None,
                     sum(g["cost_sessions"] for g in groups), durations)


def _order(by: str | None, groups: list[dict[str, Any]]) -> None:
    if by == "day":
        groups.sort(key=lambda g: g["key"] or "")
    else:
        groups.sort(key=lambda g: (-g["tokens"]["total_tokens"], -g["sessions"], str(g["key"])))


def stats(store: SessionStore, by: str | None = None,
          selection: SessionFilter | None = None) -> dict[str, Any]:
    """{"by", "groups": [...], "total": {...}} over the sessions matching selection."""
    check_by(by)
    if by in (None, "backend") and (selection is None or not selection.narrows):
        from clinvk.stats_totals import backend_stats

        groups, total = backend_stats(store)
        _order(by, groups)
        return {"by": by, "groups": groups if by else [], "total": total}
    return scan_stats(store, by, selection)


def scan_stats(store: SessionStore, by: str | None = None,
               selection: SessionFilter | None = None) -> dict[str, Any]:
    """stats() from one query over the matching rows of the index (any filter, any grouping):
    the sums in SQL, the durations sorted here."""
    sql = _SQL.format(key=GROUPS[by] if by else "NULL")
    groups, every = [], []
    for key, n, turns, *rest in store.query(sql, selection):
        tokens = dict(zip(TOKEN_FIELDS, (int(v or 0) for v in rest[:6]), strict=True))
        cost, cost_n, durations = rest[6], rest[7], _durations(rest[8])
        every.append(durations)
        groups.append(summarise(key, n, int(turns or 0), tokens, cost, cost_n, [durations]))
    _order(by, groups)
    return {"by": by, "groups": groups if by else [], "total": merge(groups, every)}


def session_stats(record: dict[str, Any]) -> dict[str, Any]:
    """The per-turn table of one session and its recorded totals."""
    turns = []
    for n, turn in enumerate(record.get("turns") or [], start=1):
        if not isinstance(turn, dict):
            continue
        turns.append({"n": n, "at": turn.get("at"), "duration_ms": turn.get("duration_ms"),
                      "exit_code": turn.get("exit_code"), "usage": turn.get("usage"),
                      "prompt": turn.get("prompt")})
    usage = record.get("token_usage") or {}
    tokens = {f: int(usage.get(f) or 0) for f in TOKEN_FIELDS}
    cost = record.get("cost_usd")
    durations = sorted(t["duration_ms"] for t in turns if isinstance(t["duration_ms"], int))
    total = summarise(record["id"], 1, int(record.get("turn_count") or 0), tokens, cost,
                      int(cost is not None), [durations])
    return {"session": record["id"], "title": record.get("title"), "backend": record["backend"],
            "model": record.get("model"), "turns": turns, "total": total}
