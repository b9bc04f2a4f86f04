"""`sessions stats` and `stats --by backend` over every session (no filter), from what the
index keeps up to date by trigger (store/stats_rows.py): the per-backend sums, and the
duration buckets, from which the exact k-th smallest turn duration is found by counting
buckets and reading the one bucket (of the (backend, duration) index) that holds it.
Nothing here grows with the number of sessions but the cost sum (a covering index of the
sessions that have a cost) and the number of buckets (one per 256 ms of duration in use).
No Click here."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from clinvk.stats_figures import durations_summary, merge, summarise
from clinvk.store.stats_rows import Bucket, backend_totals, bucket_durations

if TYPE_CHECKING:
    from clinvk.store import SessionStore


class Inconsistent(Exception):
    """The index changed between two queries (another process wrote a session)."""


class _Group:
    """The duration buckets of one group (one backend, or all): bucket -> count."""

    def __init__(self, backends: list[str], buckets: list[Bucket]) -> None:
        wanted = set(backends)
        merged: Counter[int] = Counter()
        for row in buckets:
            if row.backend in wanted:
                merged[row.bucket] += row.n
        self.backends = backends
        self.buckets = sorted(merged.items())
        self.n = sum(merged.values())

    def locate(self, k: int) -> tuple[int, int]:
        """(bucket, 1-based rank inside it) of the k-th smallest duration."""
        seen = 0
        for bucket, n in self.buckets:
            if seen + n >= k:
                return bucket, k - seen
            seen += n
        raise Inconsistent(k)


def _summaries(store: SessionStore, groups: list[_Group]) -> list[dict[str, Any]]:
    """The durations_summary of each group: ranks first, then one query for their buckets."""
    wanted: set[tuple[str, int]] = set()
    for group in groups:
        def note(k: int, group: _Group = group) -> int:
            bucket = group.locate(k)[0]
            wanted.update((backend, bucket) for backend in group.backends)
            return 0
        durations_summary(group.n, note)
    values = bucket_durations(store, wanted)
    out = []
    for group in groups:
        def kth_of(k: int, group: _Group = group) -> int:
            bucket, rank = group.locate(k)
            inside = sorted(d for b in group.backends for d in values[(b, bucket)])
            if len(inside) != dict(group.buckets)[bucket]:
                raise Inconsistent(k)
            return inside[rank - 1]
        out.append(durations_summary(group.n, kth_of))
    return out


def _once(store: SessionStore) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sums, buckets = backend_totals(store)
    every = _Group([s.key for s in sums], buckets)
    summaries = _summaries(store, [_Group([s.key], buckets) for s in sums] + [every])
    groups = [summarise(s, durations) for s, durations in zip(sums, summaries, strict=False)]
    return groups, merge(groups, summaries[-1])


def backend_stats(store: SessionStore) -> tuple[list[dict[str, Any]], dict[str, Any]] | None:
    """(one group per backend, unsorted; the total) over every session; None when the index
    kept changing under three tries (then the caller scans the rows instead)."""
    for _ in range(3):
        try:
            return _once(store)
        except Inconsistent:
            continue
    return None  # pragma: no cover
