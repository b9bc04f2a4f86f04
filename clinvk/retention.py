"""Retention: delete sessions not used for a while, by hand or automatically once a day."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from clinvk.clock import as_utc, utc_now
from clinvk.paths import clean_stamp_path
from clinvk.store import SessionStore
from clinvk.store.delete import purge

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

AUTO_CLEAN_INTERVAL = 86400.0


class CleanResult:
    """What a clean removed (or, with dry_run, would remove)."""

    def __init__(
        self, removed: list[dict[str, Any]] | None = None, bytes_freed: int = 0,
        dry_run: bool = False,
    ) -> None:
        self.removed = removed if removed is not None else []
        self.bytes_freed = bytes_freed
        self.dry_run = dry_run

    @property
    def count(self) -> int:
        return len(self.removed)

    def __repr__(self) -> str:
        return f"CleanResult(count={self.count}, bytes_freed={self.bytes_freed}, " \
               f"dry_run={self.dry_run})"


def clean(
    store: SessionStore, older_than: timedelta, *, dry_run: bool = False,
    now: datetime | None = None, keep: frozenset[str] = frozenset(),
) -> CleanResult:
    """Delete sessions whose last_used is before now - older_than (found via the index)."""
    result = CleanResult(dry_run=dry_run)
    try:
        until = as_utc(now or utc_now()) - older_than - timedelta(microseconds=1)
    except OverflowError:  # longer ago than the first date there is: nothing is that old
        return result
    # one pass under the lock: deleting one by one re-synced the index per session (O(N^2))
    result.removed, result.bytes_freed = purge(store, until=until, dry_run=dry_run, keep=keep)
    return result


def _due(stamp: os.PathLike[str], now: datetime) -> bool:
    try:
        elapsed = now.timestamp() - os.stat(stamp).st_mtime
    except OSError:
        return True
    return not 0 <= elapsed < AUTO_CLEAN_INTERVAL


def maybe_auto_clean(
    store: SessionStore, retention_days: int, *, now: datetime | None = None,
    keep: frozenset[str] = frozenset(),
) -> CleanResult | None:
    """Run the retention clean at most once a day; None when skipped (not due, busy, off).
    `keep`: sessions this command brought (an import), not removed by its own clean."""
    if retention_days <= 0:
        return None
    now = as_utc(now or utc_now())
    stamp = clean_stamp_path(store.home)
    if not _due(stamp, now) or not store.root.is_dir():
        return None
    with store.lock(blocking=False) as acquired:
        if not acquired or not _due(stamp, now):
            return None
        try:
            result = clean(store, timedelta(days=retention_days), now=now, keep=keep)
        except OverflowError:  # more days than a timedelta holds: nothing is that old
            result = CleanResult()
        _touch(stamp, now)
    return result


def _touch(stamp: os.PathLike[str], now: datetime) -> None:
    try:
        fd = os.open(stamp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, (now.isoformat() + "\n").encode())
        finally:
            os.close(fd)
        os.utime(stamp, (now.timestamp(), now.timestamp()))
    except OSError:
        pass


def shorter_backend_retention(settings: Any, environ: dict[str, str],
                              names: list[str]) -> list[str]:
    """A warning per backend of `names` that deletes its own transcripts sooner than
    `session.retention_days` keeps sessions (0: kept forever, so any such clean-up is
    sooner), naming the backend's setting."""
    from clinvk.backends import get_adapter

    keep = int(settings.get("session.retention_days") or 0)
    kept = f"session.retention_days ({keep})" if keep else "session.retention_days (0: forever)"
    out = []
    for name in names:
        conf = settings.backend(name)
        try:
            adapter = get_adapter(settings.adapter_name(name))
        except (KeyError, ValueError):
            continue
        own = adapter.own_retention({**environ, **(conf.get("env") or {})})
        if own is None or (keep and own.days >= keep):
            continue
        out.append(f"{name} deletes its own transcripts after {own.days:g} day(s), sooner than "
                   f"clinvk keeps sessions ({kept}): {own.setting}. clinvk's archive keeps a "
                   "copy it restores on resume (archive.enabled); raise the setting to keep "
                   "the backend's own files as long")
    return out
