"""The rows `sessions stats` is computed from, read from the index (schema.py) and never from
the session files: the sums of one grouping over the matching sessions (with their turn
durations), or, over every session, the per-backend totals and duration buckets that the
index's triggers keep up to date. All the SQL of stats is here; the arithmetic is in
clinvk/stats.py. The token sums are named as in the session file (usage_keys)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from clinvk.store.schema import BUCKET_SHIFT
from clinvk.usage_keys import USAGE_KEYS

if TYPE_CHECKING:
    from clinvk.store.core import SessionStore
    from clinvk.store.selection import SessionFilter

# the SQL key of each grouping; day is the UTC date of the session's last use. "+" keeps
# SQLite from walking an index in key order with a table read per row, which is slower than
# a scan and a sort (unfiltered totals by backend come from backend_totals)
GROUPINGS = {
    "backend": "+backend",
    "model": "+model",
    "day": "date(last_used / 1000000, 'unixepoch')",
    "dir": "+working_dir",
}
_SUMS = ", ".join(f"sum({key})" for key in USAGE_KEYS)
_GROUP_SQL = (
    "SELECT {key}, count(*), sum(turn_count), " + _SUMS + ", sum(cost_usd), count(cost_usd), "
    "sum(cost_estimated), "
    "group_concat(substr(durations, 2, length(durations) - 2)) FILTER (WHERE durations != '[]') "
    "FROM sessions{{where}} GROUP BY 1"
)
_TOTALS_SQL = (
    "SELECT 0, t.backend, t.sessions, t.turn_count, " + ", ".join(f"t.{k}" for k in USAGE_KEYS)
    + ", c.cost, coalesce(c.n, 0), coalesce(c.e, 0) FROM backend_totals AS t LEFT JOIN (SELECT "
    "backend, sum(cost_usd) AS cost, count(*) AS n, sum(cost_estimated) AS e FROM sessions "
    "WHERE cost_usd IS NOT NULL GROUP BY backend) AS c USING (backend) UNION ALL SELECT 1, "
    "backend, bucket, n, " + ", ".join(["NULL"] * (len(USAGE_KEYS) + 3)) + " FROM duration_buckets"
)
_RANGE_SQL = "SELECT ?, duration FROM turn_durations WHERE backend = ? AND duration BETWEEN ? AND ?"
_CHUNK = 400  # ranges per query (SQLite allows 500 terms in a compound SELECT)


class Sums(NamedTuple):
    """What one group of sessions adds up to."""

    key: Any  # the group's key (a backend, model, day or folder), or None for all
    sessions: int
    turns: int
    tokens: dict[str, int]  # usage_keys.USAGE_KEYS -> sum of the sessions' token_usage
    cost: float | None  # the sum of the known costs
    cost_sessions: int  # how many sessions have a cost
    cost_estimated: int = 0  # how many of those have an estimated one (cost_source)


class Bucket(NamedTuple):
    """How many turn durations of one backend fall in one bucket (BUCKET_SHIFT bits wide)."""

    backend: str
    bucket: int
    n: int


def _sums(key: Any, sessions: int, turns: Any, rest: list[Any]) -> Sums:
    width = len(USAGE_KEYS)
    tokens = dict(zip(USAGE_KEYS, (int(v or 0) for v in rest[:width]), strict=True))
    return Sums(key, sessions, int(turns or 0), tokens, rest[width], rest[width + 1],
                int(rest[width + 2] or 0))


def group_sums(store: SessionStore, by: str | None,
               selection: SessionFilter | None = None) -> list[tuple[Sums, list[int]]]:
    """(sums, sorted turn durations) of each group of the matching sessions (one group, key
    None, when by is None), from one query over their index rows."""
    sql = _GROUP_SQL.format(key=GROUPINGS[by] if by else "NULL")
    out = []
    for key, n, turns, *rest in store.query(sql, selection):
        text = rest[-1]
        durations = sorted(json.loads(f"[{text}]")) if text else []
        out.append((_sums(key, n, turns, rest), durations))
    return out


def backend_totals(store: SessionStore) -> tuple[list[Sums], list[Bucket]]:
    """The sums of every backend's sessions and the duration buckets of every backend, from
    one query (one snapshot of what the triggers keep)."""
    sums, buckets = [], []
    for kind, backend, *rest in store.query(_TOTALS_SQL):
        if kind:
            buckets.append(Bucket(backend, rest[0], rest[1]))
        else:
            sums.append(_sums(backend, rest[0], rest[1], rest[2:]))
    return sums, buckets


def bucket_durations(store: SessionStore,
                     wanted: set[tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
    """Every turn duration in each wanted (backend, bucket), by pair."""
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
