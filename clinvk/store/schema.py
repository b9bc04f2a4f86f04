"""What the session index holds: its table layout, the values indexed per session, and the
WHERE clause of a `SessionFilter`. Kept apart from index.py (which keeps the index up to date)
so that the store's queries (stats_rows.py, queries.py) are built over the same columns.

Besides the fields used to filter and sort, each row carries the session's token totals
(columns named as the session file's usage keys, usage_keys.USAGE_KEYS),
cost, model and its turn durations (a JSON array of milliseconds), so that `sessions stats`
and `sessions search` never need to open the session files.

Triggers on `sessions` keep, for `stats` and `stats --by backend` without filters, what
would otherwise take a scan of every row: `backend_totals` (session, turn and token sums
per backend: integers, exact under any sequence of inserts and deletes), `turn_durations`
(one row per timed turn, indexed on (backend, duration)) and `duration_buckets` (how many
durations per backend fall in each bucket of BUCKET_SHIFT bits), from which an exact k-th
smallest duration needs the bucket counts and one small range of the index (stats_rows.py,
clinvk/stats_totals.py).
Every write to `sessions` is a DELETE and an INSERT (the REPLACE of index._put fires the
delete trigger because connections set recursive_triggers).
"""

from __future__ import annotations

import json
import os
from datetime import datetime

from clinvk.clock import parse_rfc3339
from clinvk.store.selection import SORT_KEYS
from clinvk.usage_keys import USAGE_KEYS

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)

if TYPE_CHECKING:
    from typing import Any

    from clinvk.store.selection import SessionFilter

SEP = "\x1f"
BUCKET_SHIFT = 8  # duration_buckets: 256 ms wide
DURATION_LIMIT = 2**62  # turn durations are clamped to +-this (SQLite integers are 64-bit)
SUMMED = ("turn_count", *USAGE_KEYS)  # the token columns are named as in the session file
TOTAL_COLS = ("sessions", *SUMMED)

# the sessions of a backend session id (sessions adopt, the recorder): also added to an index
# built before it existed (index._setup), which needs no rebuild for it
BSID_INDEX = "CREATE INDEX IF NOT EXISTS sessions_bsid ON sessions(backend_session_id);"
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, dirkey TEXT NOT NULL, name TEXT NOT NULL,
  sig_mtime INTEGER, size INTEGER, inode INTEGER, written_ns INTEGER,
  backend TEXT, status TEXT, working_dir TEXT, title TEXT,
  created_at INTEGER, last_used INTEGER, turn_count INTEGER, total_tokens INTEGER,
  resumable INTEGER, tags TEXT, tags_key TEXT, metadata TEXT, meta_key TEXT, search TEXT,
  model TEXT, input_tokens INTEGER, cached_input_tokens INTEGER,
  cache_creation_input_tokens INTEGER, output_tokens INTEGER, reasoning_tokens INTEGER,
  cost_usd REAL, durations TEXT,
  backend_session_id TEXT, cost_estimated INTEGER);
CREATE UNIQUE INDEX IF NOT EXISTS sessions_file ON sessions(dirkey, name);
CREATE INDEX IF NOT EXISTS sessions_last_used ON sessions(last_used);
CREATE INDEX IF NOT EXISTS sessions_dir_last ON sessions(working_dir, last_used);
CREATE INDEX IF NOT EXISTS sessions_backend_last ON sessions(backend, last_used);
CREATE INDEX IF NOT EXISTS sessions_cost ON sessions(backend, cost_usd) WHERE cost_usd IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_bsid ON sessions(backend_session_id);
CREATE TABLE IF NOT EXISTS dirs (dirkey TEXT PRIMARY KEY, mtime INTEGER);
CREATE TABLE IF NOT EXISTS skipped (dirkey TEXT, name TEXT, sig_mtime INTEGER,
  size INTEGER, inode INTEGER, reason TEXT, PRIMARY KEY (dirkey, name));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER);
""" + f"""
CREATE TABLE IF NOT EXISTS turn_durations (sid TEXT NOT NULL, backend TEXT NOT NULL,
  duration INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS turn_durations_sid ON turn_durations(sid);
CREATE INDEX IF NOT EXISTS turn_durations_key ON turn_durations(backend, duration);
CREATE TABLE IF NOT EXISTS duration_buckets (backend TEXT NOT NULL, bucket INTEGER NOT NULL,
  n INTEGER NOT NULL, PRIMARY KEY (backend, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS backend_totals (backend TEXT PRIMARY KEY, {', '.join(
    f'{c} INTEGER NOT NULL' for c in TOTAL_COLS)});
CREATE TRIGGER IF NOT EXISTS sessions_added AFTER INSERT ON sessions BEGIN
  INSERT INTO turn_durations SELECT new.id, new.backend, value FROM json_each(new.durations);
  INSERT INTO backend_totals VALUES (new.backend, 1, {', '.join(f'new.{c}' for c in SUMMED)})
    ON CONFLICT (backend) DO UPDATE SET sessions = sessions + 1, {', '.join(
    f'{c} = {c} + excluded.{c}' for c in SUMMED)};
END;
CREATE TRIGGER IF NOT EXISTS sessions_removed AFTER DELETE ON sessions BEGIN
  DELETE FROM turn_durations WHERE sid = old.id;
  UPDATE backend_totals SET sessions = sessions - 1, {', '.join(
    f'{c} = {c} - old.{c}' for c in SUMMED)} WHERE backend = old.backend;
  DELETE FROM backend_totals WHERE backend = old.backend AND sessions = 0;
END;
CREATE TRIGGER IF NOT EXISTS turn_added AFTER INSERT ON turn_durations BEGIN
  INSERT INTO duration_buckets VALUES (new.backend, new.duration >> {BUCKET_SHIFT}, 1)
    ON CONFLICT (backend, bucket) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER IF NOT EXISTS turn_removed AFTER DELETE ON turn_durations BEGIN
  UPDATE duration_buckets SET n = n - 1
    WHERE backend = old.backend AND bucket = old.duration >> {BUCKET_SHIFT};
  DELETE FROM duration_buckets
    WHERE backend = old.backend AND bucket = old.duration >> {BUCKET_SHIFT} AND n = 0;
END;
"""
DERIVED_TABLES = ("sessions", "dirs", "skipped", "meta", "turn_durations", "duration_buckets",
                  "backend_totals")
VALUE_COLS = (
    "backend", "status", "working_dir", "title", "created_at", "last_used", "turn_count",
    "total_tokens", "resumable", "tags", "tags_key", "metadata", "meta_key", "search",
    "model", "input_tokens", "cached_input_tokens", "cache_creation_input_tokens", "output_tokens",
    "reasoning_tokens", "cost_usd", "durations", "backend_session_id", "cost_estimated",
)  # fmt: skip
ROW_COLS = 7 + len(VALUE_COLS)  # id, dirkey, name, sig_mtime, size, inode, written_ns, values
# the column and whether it sorts newest/most first, of each of selection.SORT_KEYS
ORDERS = dict(zip(SORT_KEYS, (("last_used", True), ("created_at", True),
                              ("title COLLATE NOCASE", False), ("turn_count", True),
                              ("total_tokens", True)), strict=True))


def micros(stamp: str | datetime) -> int:
    """Microseconds since the epoch of an RFC 3339 string or aware datetime."""
    dt = parse_rfc3339(stamp) if isinstance(stamp, str) else stamp
    return int(dt.timestamp()) * 1_000_000 + dt.microsecond


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _duration(value: Any) -> int:
    return max(-DURATION_LIMIT, min(DURATION_LIMIT, _int(value)))


def row_values(record: dict[str, Any]) -> tuple[Any, ...]:
    """The indexed values of a validated record, in VALUE_COLS order."""
    tags = record["tags"]
    meta = record["metadata"]
    turns = [t for t in record["turns"] if isinstance(t, dict)]
    prompts = [t.get("prompt") or "" for t in turns]
    words = [record["title"], *prompts, *tags, *(f"{k}={v}" for k, v in meta.items())]
    usage = record.get("token_usage") or {}
    cost = record.get("cost_usd")
    return (
        record["backend"], record["status"], record["working_dir"], record["title"],
        micros(record["created_at"]), micros(record["last_used"]), record["turn_count"] or 0,
        usage.get("total_tokens") or 0, int(bool(record.get("backend_session_id"))),
        json.dumps(tags, ensure_ascii=False), SEP + SEP.join(tags) + SEP,
        json.dumps(meta, ensure_ascii=False, sort_keys=True),
        SEP + SEP.join(f"{k}\x1e{v}" for k, v in meta.items()) + SEP,
        "\n".join(words).lower(),
        record.get("model"), usage.get("input_tokens") or 0,
        usage.get("cached_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0,
        usage.get("output_tokens") or 0, usage.get("reasoning_tokens") or 0,
        None if cost is None else float(cost),
        json.dumps([_duration(t["duration_ms"]) for t in turns if "duration_ms" in t]),
        record.get("backend_session_id"), int(record.get("cost_source") == "estimated"),
    )  # fmt: skip


def _storable(value: Any) -> bool:
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def where(f: SessionFilter) -> tuple[str, list[Any]]:
    """` WHERE ...` (or "") and its parameters for the rows matching f."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("backend", f.backend), ("status", f.status)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if f.working_dir is not None:
        clauses.append("working_dir = ?")
        params.append(os.fspath(f.working_dir))
    if f.resumable is not None:
        clauses.append("resumable = ?")
        params.append(int(f.resumable))
    if f.since is not None:
        clauses.append("last_used >= ?")
        params.append(micros(f.since))
    if f.until is not None:
        clauses.append("last_used <= ?")
        params.append(micros(f.until))
    for tag in f.tags:
        clauses.append("instr(tags_key, ?) > 0")
        params.append(SEP + tag + SEP)
    for key, value in f.meta:
        clauses.append("instr(meta_key, ?) > 0")
        params.append(f"{SEP}{key}\x1e{value}{SEP}")
    if f.search:
        clauses.append("instr(search, ?) > 0")
        params.append(f.search.lower())
    if not all(map(_storable, params)):  # a non-UTF-8 path, tag or text (an argument's byte):
        return " WHERE 0", []  # no stored value holds one (record_check), and SQLite cannot take it
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params
