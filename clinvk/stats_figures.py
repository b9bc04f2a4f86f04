"""The arithmetic of `sessions stats`: nearest-rank percentiles, the k-th smallest of sorted
runs, and one group's figures (the shape of `stats --json`) from its sums. No I/O here."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from clinvk.store.stats_rows import Sums
from clinvk.usage_keys import USAGE_KEYS


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


def runs_summary(runs: list[list[int]]) -> dict[str, Any]:
    """durations_summary of several sorted lists of durations."""
    runs = [r for r in runs if r]
    return durations_summary(sum(len(r) for r in runs), lambda k: kth(runs, k))


def summarise(sums: Sums, durations: dict[str, Any]) -> dict[str, Any]:
    """One group's figures, raw (the shape of `stats --json`); durations: its
    durations_summary."""
    tokens = sums.tokens
    inp = tokens["input_tokens"]
    figures = {
        "key": sums.key, "sessions": sums.sessions, "turns": sums.turns, "tokens": tokens,
        "cache_hit_ratio": tokens["cached_input_tokens"] / inp if inp else None,
        "duration_ms": durations,
        "cost_usd": None if not sums.cost_sessions else round(sums.cost or 0.0, 10),
        "cost_sessions": sums.cost_sessions,
    }
    if sums.cost_estimated:  # the key only then: figures with no estimate stay as they were
        figures["cost_estimated"] = True
    return figures


def merge(groups: list[dict[str, Any]], durations: dict[str, Any]) -> dict[str, Any]:
    """The total of groups (summarise's figures); durations: the summary of all of theirs."""
    costs = [g["cost_usd"] for g in groups if g["cost_usd"] is not None]
    tokens = {key: sum(g["tokens"][key] for g in groups) for key in USAGE_KEYS}
    total = Sums(None, sum(g["sessions"] for g in groups), sum(g["turns"] for g in groups),
                 tokens, sum(costs) if costs else None, sum(g["cost_sessions"] for g in groups),
                 sum(1 for g in groups if g.get("cost_estimated")))
    return summarise(total, durations)
