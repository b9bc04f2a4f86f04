"""`sessions stats` and `stats --by backend` over every session (no filter), from what the
index keeps up to date by trigger (index_schema): the per-backend sums, and the duration
buckets, from which the exact k-th smallest turn duration is found by counting buckets and
reading the one bucket (of the (backend, duration) index) that holds it. Nothing here grows
with the number of sessions but the cost sum (a covering index of the sessions that have a
cost) and the number of buckets (one per 256 ms of duration in use). No Click here."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from clinvk.store.schema import BUCKET_SHIFT

if TYPE_CHECKING:
    from clinvk.store import SessionStore

_HEAD_SQL = (
    "SELECT 0, t.backend, t.sessions, t.turn_count, t.input_tokens, t.cached_tokens, "
    "t.cache_creation_tokens, t.output_tokens, t.reasoning_tokens, t.total_tokens, c.cost, "
    "coalesce(c.n, 0) FROM backend_totals AS t LEFT JOIN (SELECT backend, sum(cost_usd) AS cost, "
    "count(*) AS n FROM sessions WHERE cost_usd IS NOT NULL GROUP BY backend) AS c USING (backend) "
    "UNION ALL SELECT 1, backend, bucket, n, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL "
    "FROM duration_buckets"
)
_RANGE_SQL = "SELECT ?, duration FROM turn_durations WHERE backend = ? AND duration BETWEEN ? AND ?"
_CHUNK = 400  # ranges per query (SQLite allows 500 terms in a compound SELECT)


class Inconsistent(Exception):
    """The index changed between two queries (another process wrote a session)."""


class _Group:
    """The duration buckets of one group (one backend, or all): bucket -> count."""

    def __init__(self, backends: list[str], buckets: dict[str, list[tuple[int, int]]]) -> None:
        merged: Counter[int] = Counter()
        for backend in backends:
            for bucket, n in buckets.get(backend, ()):
                merged[bucket] += n
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


def _fetch_buckets(store: SessionStore, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
    """Every duration of each wanted (backend, bucket), by pair."""
    found: dict[tuple[str, int], list[int]] = {pair: [] for pair in wanted}
    pairs = sorted(wanted)
    for start in range(0, len(pairs), _CHUNK):
        chunk = pairs[start:start + _CHUNK]
        params: list[Any] = []
        for n, (backend, bucket) in enumerate(chunk):
            params += [start + n, backend, bucket << BUCKET_SHIFT,
                       ((bucket + 1) << BUCKET_SHIFT) - 1]
        for n, duration in store.query(" UNION ALL ".join([_RANGE_SQL] * len(chunk)),
                                       params=tuple(params)):
            found[pairs[n]].append(duration)
    return found


def _summaries(store: SessionStore, groups: list[_Group]) -> list[dict[str, Any]]:
    """The durations_summary of each group: ranks first, then one query for their buckets."""
    from clinvk.stats import durations_summary

    wanted: set[tuple[str, int]] = set()
    for group in groups:
        def note(k: int, group: _Group = group) -> int:
            bucket = group.locate(k)[0]
            wanted.update((backend, bucket) for backend in group.backends)
            return 0
        durations_summary(group.n, note)
    values = _fetch_buckets(store, wanted)
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
    from clinvk.stats import TOKEN_FIELDS, merge, summarise

    heads, buckets = [], {}
    for kind, backend, *rest in store.query(_HEAD_SQL):
        if kind:
            buckets.setdefault(backend, []).append((rest[0], rest[1]))
        else:
            heads.append((backend, *rest))
    every = _Group([h[0] for h in heads], buckets)
    summaries = _summaries(store, [_Group([h[0]], buckets) for h in heads] + [every])
    groups = []
    for (backend, sessions, turns, *rest), durations in zip(heads, summaries, strict=False):
        tokens = dict(zip(TOKEN_FIELDS, (int(v or 0) for v in rest[:6]), strict=True))
        groups.append(summarise(backend, sessions, int(turns or 0), tokens, rest[6], rest[7],
                                durations))
    return groups, merge(groups, summaries[-1])


def backend_stats(store: SessionStore) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(one group per backend, unsorted; the total) over every session."""
    for _ in range(3):
        try:
            return _once(store)
        except Inconsistent:
            continue
    from clinvk.stats import scan_stats

    result = scan_stats(store, "backend")  # pragma: no cover
    return result["groups"], result["total"]  # pragma: no cover
