"""Retention: clean by age, dry runs, keep-forever, and the once-a-day automatic clean."""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from clinvk.paths import clean_stamp_path, lock_path
from clinvk.retention import clean, maybe_auto_clean
from clinvk.store import SessionStore
from clinvk.store import session as S

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def populate(home: Path) -> tuple[SessionStore, list[dict], list[dict]]:
    store = SessionStore(home)
    old = [store.create(S.new_session("claude", f"/w/{d}", now=NOW - timedelta(days=d)))
           for d in (31, 40, 400)]
    new = [store.create(S.new_session("codex", f"/w/{d}", now=NOW - timedelta(days=d)))
           for d in (0, 1, 29)]
    return store, old, new


def ids(rows: list[dict]) -> set[str]:
    return {r["id"] for r in rows}


def test_clean_removes_exactly_the_old_ones(tmp_path: Path) -> None:
    store, old, new = populate(tmp_path / "home")
    sizes = sum(store.path_of(r["id"]).stat().st_size for r in old)
    result = clean(store, timedelta(days=30), now=NOW)
    assert ids(result.removed) == ids(old) and result.bytes_freed == sizes
    assert not result.dry_run and result.count == 3
    assert ids(store.list()) == ids(new)
    assert ids(SessionStore(store.home).list()) == ids(new)


def test_clean_boundary_is_strict(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "home")
    edge = store.create(S.new_session("claude", "/w", now=NOW - timedelta(hours=12)))
    assert clean(store, timedelta(hours=12), now=NOW).removed == []
    assert ids(clean(store, timedelta(hours=12), now=NOW + timedelta(seconds=1)).removed) == {
        edge["id"]}


def test_dry_run_removes_nothing(tmp_path: Path) -> None:
    store, old, new = populate(tmp_path / "home")
    result = clean(store, timedelta(days=30), dry_run=True, now=NOW)
    assert result.dry_run and ids(result.removed) == ids(old) and result.bytes_freed > 0
    assert store.count() == 6


def test_clean_on_missing_home_creates_nothing(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "nope")
    assert clean(store, timedelta(days=1), now=NOW).removed == []
    assert maybe_auto_clean(store, 30, now=NOW) is None
    assert not store.home.exists()


def test_auto_clean_zero_days_keeps_everything(tmp_path: Path) -> None:
    store, _old, _new = populate(tmp_path / "home")
    assert maybe_auto_clean(store, 0, now=NOW) is None
    assert store.count() == 6 and not clean_stamp_path(store.home).exists()


def test_auto_clean_at_most_once_a_day(tmp_path: Path) -> None:
    store, old, new = populate(tmp_path / "home")
    first = maybe_auto_clean(store, 30, now=NOW)
    assert first is not None and ids(first.removed) == ids(old)
    stamp = clean_stamp_path(store.home)
    assert stamp.stat().st_mode & 0o777 == 0o600
    assert maybe_auto_clean(store, 1, now=NOW + timedelta(hours=23)) is None
    assert store.count() == 3
    later = maybe_auto_clean(store, 2, now=NOW + timedelta(hours=25))
    assert later is not None and len(later.removed) == 2  # the 1- and 29-day-old ones
    assert ids(store.list()) == {new[0]["id"]}


def test_auto_clean_skips_when_store_is_busy(tmp_path: Path) -> None:
    store, _old, _new = populate(tmp_path / "home")
    fd = os.open(lock_path(store.home), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert maybe_auto_clean(SessionStore(store.home), 30, now=NOW) is None
    finally:
        os.close(fd)
    assert store.count() == 6 and not clean_stamp_path(store.home).exists()
    assert maybe_auto_clean(store, 30, now=NOW) is not None


def test_longer_ago_than_any_date_removes_nothing(tmp_path: Path) -> None:
    """`--older-than 740000d` and a retention_days past what a date can count back: nothing
    is that old (was an internal OverflowError, exit 1, at every command for the config)."""
    store, old, new = populate(tmp_path / "home")
    assert clean(store, timedelta(days=740_000), now=NOW).count == 0
    for days in (1_000_000, 10**20):
        clean_stamp_path(store.home).unlink(missing_ok=True)
        result = maybe_auto_clean(store, days, now=NOW)
        assert result is not None and result.count == 0
    assert ids(store.list()) == ids(old) | ids(new)


def test_sessions_clean_with_more_retention_days_than_dates_removes_nothing(clinvk) -> None:
    """`sessions clean` with retention_days past any date (10**9, 10**23) was an internal
    OverflowError, exit 1, with --json and --dry-run alike; the daily clean took it already."""
    store = SessionStore(clinvk.home)
    now = datetime.now(timezone.utc)
    kept = [store.create(S.new_session("claude", "/w", now=now - timedelta(days=d))) for d in (1, 4000)]
    store.close()
    for days in (10**9, 10**23):
        clinvk.config(f"session:\n  retention_days: {days}\n")
        for extra in ((), ("--json",), ("--dry-run",)):
            result = clinvk.run("sessions", "clean", *extra)
            assert result.code == 0 and "error" not in result.err, result.err
    assert ids(clinvk.sessions()) == ids(kept)
