"""The totals and duration buckets the index keeps by trigger (stats_totals, the path of
`stats` and `stats --by backend` without filters) give the same figures as a scan of the
rows (scan_stats) and as a plain Python reference, through inserts, rewrites and deletes."""

from __future__ import annotations

import statistics
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinvk.clock import utc_now
from clinvk.stats import durations_summary, percentile, scan_stats, stats
from clinvk.store import SessionStore
from clinvk.store.delete import delete
from clinvk.store.schema import BUCKET_SHIFT
from clinvk.store.session import add_turn, new_session

NOW = utc_now()
BACKENDS = ("claude", "codex", "gemini")
# values around bucket edges, duplicates, zero, negatives and very long turns
EDGY = st.one_of(
    st.integers(min_value=-3, max_value=3).map(lambda d: (5 << BUCKET_SHIFT) + d),
    st.integers(min_value=-2000, max_value=10**6),
    st.sampled_from([0, 1, 255, 256, 257, 10**12]),
)
SESSION = st.tuples(st.sampled_from(BACKENDS), st.lists(EDGY, max_size=6),
                    st.sampled_from([None, 0.1, 2.5]))


def _record(backend: str, durations: list[int], cost: float | None, n: int) -> dict:
    start = NOW - timedelta(hours=n + 1)
    record = new_session(backend, f"/w/{n % 3}", model="m", now=start)
    for t, duration in enumerate(durations):
        add_turn(record, prompt=f"p{n}.{t}", duration_ms=duration, exit_code=0,
                 usage={"input_tokens": 1000 * (t + 1) + n, "cached_input_tokens": 10 * t,
                        "output_tokens": 7 * t, "reasoning_tokens": t},
                 cost_usd=cost, at=start + timedelta(minutes=t))
    return record


def _reference(records: list[dict]) -> dict:
    durations = sorted(t["duration_ms"] for r in records for t in r["turns"])
    return {"median": statistics.median(durations) if durations else None,
            "p95": percentile(durations, 0.95), "turns_timed": len(durations)}


def _same(fast: dict, scanned: dict) -> None:
    """Equal but for the order of the floating-point cost sum."""
    assert fast["by"] == scanned["by"]
    for got, want in zip([*fast["groups"], fast["total"]],
                         [*scanned["groups"], scanned["total"]], strict=True):
        assert got["cost_usd"] == pytest.approx(want["cost_usd"])
        assert {**got, "cost_usd": 0} == {**want, "cost_usd": 0}


def _check(store: SessionStore, records: dict[str, dict]) -> None:
    for by in (None, "backend"):
        fast = stats(store, by)
        _same(fast, scan_stats(store, by))
        assert fast["total"]["duration_ms"] == _reference(list(records.values()))
        assert fast["total"]["sessions"] == len(records)
        assert fast["total"]["tokens"]["total_tokens"] == sum(
            r["token_usage"]["total_tokens"] for r in records.values())
    for group in stats(store, "backend")["groups"]:
        mine = [r for r in records.values() if r["backend"] == group["key"]]
        assert group["duration_ms"] == _reference(mine)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SESSION, max_size=25), st.data())
def test_triggered_totals_equal_scan_and_reference(sessions, data):
    with tempfile.TemporaryDirectory() as tmp:
        store = SessionStore(Path(tmp))
        records = {}
        for n, (backend, durations, cost) in enumerate(sessions):
            record = store.create(_record(backend, durations, cost, n))
            records[record["id"]] = record
        _check(store, records)
        # rewrite some (a new turn), delete others: the triggers must follow
        ids = sorted(records)
        for sid in data.draw(st.lists(st.sampled_from(ids), unique=True), "grow") if ids else []:
            duration = data.draw(EDGY, "new turn")
            records[sid] = store.update(sid, lambda r, d=duration: add_turn(
                r, prompt="more", duration_ms=d, exit_code=0, usage={"input_tokens": 5}))
        for sid in data.draw(st.lists(st.sampled_from(ids), unique=True), "drop") if ids else []:
            delete(store, sid)
            del records[sid]
        _check(store, records)
        store.close()


def test_index_rebuilt_from_scratch_gives_the_same_totals(tmp_path):
    store = SessionStore(tmp_path)
    records = {r["id"]: r for r in (store.create(_record(BACKENDS[n % 3], [n * 300, 999], 0.5, n))
                                    for n in range(12))}
    before = stats(store, "backend")
    store.close()
    (tmp_path / "index.sqlite3").unlink()
    store = SessionStore(tmp_path)
    assert stats(store, "backend") == before
    _check(store, records)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=-10**6, max_value=10**9), max_size=300))
def test_durations_summary_is_the_old_definition(values):
    """median: statistics.median (mean of the two middle values when even); p95: nearest
    rank, the value at ceil(0.95 n) - 1 of the sorted list."""
    ordered = sorted(values)
    got = durations_summary(len(ordered), lambda k: ordered[k - 1])
    if not ordered:
        assert got == {"median": None, "p95": None, "turns_timed": 0}
        return
    assert got == {"median": statistics.median(ordered), "p95": percentile(ordered, 0.95),
                   "turns_timed": len(ordered)}


def test_a_file_moved_to_another_folder_is_counted_once(tmp_path):
    """The index REPLACEs the row of an id whose file moved: the delete trigger must fire."""
    store = SessionStore(tmp_path)
    records = {r["id"]: r for r in (store.create(_record("codex", [100 * n, 7], None, n))
                                    for n in range(3))}
    moved = next(iter(records))
    path = store.path_of(moved)
    other = path.parent.parent / "zz-elsewhere"
    other.mkdir(mode=0o700)
    path.rename(other / path.name)
    store.close()
    for _ in range(2):  # either folder may be scanned first
        store = SessionStore(tmp_path)
        _check(store, records)
        store.close()
        (other / path.name).rename(path)
        other, path = path.parent, other / path.name
