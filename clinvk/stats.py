"""`sessions stats`: sessions, turns, tokens, cache-hit ratio, turn durations and cost,
grouped by backend, model, day or directory. Arithmetic over the rows the store's index
gives (store/stats_rows.py: each group's sums and turn durations), never a read of the
session files, so it stays fast at 100k sessions. The figures are the recorded ones: token
totals are the sums of the sessions' `token_usage`, to the token. No Click here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.errors import UsageError
from clinvk.stats_figures import (  # noqa: F401  (kth, percentile, durations_summary: re-exported)
    durations_summary,
    kth,
    merge,
    percentile,
    runs_summary,
    summarise,
)
from clinvk.stats_totals import backend_stats
from clinvk.store.stats_rows import GROUPINGS, Sums, group_sums
from clinvk.usage_keys import USAGE_KEYS

if TYPE_CHECKING:
    from clinvk.store import SessionStore
    from clinvk.store.selection import SessionFilter


def check_by(by: str | None) -> str | None:
    if by is not None and by not in GROUPINGS:
        raise UsageError(f"invalid grouping {by!r}: use one of {', '.join(GROUPINGS)} "
                         "(e.g. --by backend)")
    return by


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
        found = backend_stats(store)
        if found is not None:
            groups, total = found
            _order(by, groups)
            return {"by": by, "groups": groups if by else [], "total": total}
        by_backend = scan_stats(store, "backend")  # pragma: no cover
        return {**by_backend, "by": by, "groups": by_backend["groups"] if by else []}  # pragma: no cover
    return scan_stats(store, by, selection)


def scan_stats(store: SessionStore, by: str | None = None,
               selection: SessionFilter | None = None) -> dict[str, Any]:
    """stats() from one query over the matching rows of the index (any filter, any grouping):
    the sums in SQL, the durations sorted here."""
    rows = group_sums(store, by, selection)
    groups = [summarise(sums, runs_summary([durations])) for sums, durations in rows]
    _order(by, groups)
    total = merge(groups, runs_summary([durations for _sums, durations in rows]))
    return {"by": by, "groups": groups if by else [], "total": total}


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
    tokens = {key: int(usage.get(key) or 0) for key in USAGE_KEYS}
    cost = record.get("cost_usd")
    durations = sorted(t["duration_ms"] for t in turns if isinstance(t["duration_ms"], int))
    sums = Sums(record["id"], 1, int(record.get("turn_count") or 0), tokens, cost,
                int(cost is not None), int(record.get("cost_source") == "estimated"))
    return {"session": record["id"], "title": record.get("title"), "backend": record["backend"],
            "model": record.get("model"), "turns": turns, "total": summarise(sums, runs_summary([durations]))}
