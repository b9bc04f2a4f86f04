"""`sessions search --transcripts` through the transcript cache (transcripts.cache): bring
the cache up to date for the sessions searched (only sessions whose backend files changed
are read again, for at most FILL_SECONDS per search), then say which of them contain the
query. Sessions the cache cannot hold
(transcript unreadable or gone, texts it cannot store) are left to the reader, which reads
them as without a cache. Like the session index, the cache is written by this read-only
command, but never when the store is read-only (--ephemeral, --dry-run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clinvk.transcripts.cache import TranscriptCache, cache_path, cacheable, flatten, remove, signature

if TYPE_CHECKING:
    from clinvk.app import App

# seconds one search spends reading changed transcripts for the cache (storing them takes
# about as long again); the rest are read as without a cache (their raw files prefiltered)
# and cached by the next searches, so that a first search over a large history costs
# about a second more than the scan, not the whole fill at once
FILL_SECONDS = 0.5
# record, found files -> texts of its conversation, or None when it cannot be read
Loader = Callable[[dict[str, Any], Any], "list[str] | None"]


def _refresh(app: App, cache: TranscriptCache, lights: list[dict[str, Any]], load: Loader,
             locate: Callable[[dict[str, Any]], Any]) -> set[str]:
    """Re-read the changed transcripts into the cache; the ids it cannot answer for."""
    known = cache.signatures()
    put: dict[str, tuple[str, list[str]]] = {}
    drop: list[str] = []
    uncached: set[str] = set()
    deadline = time.monotonic() + FILL_SECONDS
    for light in lights:
        sid = light["id"]
        try:
            found = locate(light)
        except Exception:  # unreadable: left to the reader, which reports it
            found = None
        sig = None if found is None else signature(found[1])
        if sig is None:
            uncached.add(sid)
            if sid in known:
                drop.append(sid)
            continue
        if known.get(sid) == sig:
            continue
        if time.monotonic() > deadline:
            uncached.add(sid)
            continue
        texts = load(light, found)
        pieces = None if texts is None else flatten(texts)
        if pieces is None or not cacheable(pieces):
            uncached.add(sid)
            if sid in known:
                drop.append(sid)
            continue
        put[sid] = (sig, pieces)
    searched = {light["id"] for light in lights}
    stale = [sid for sid in known if sid not in searched]
    if stale:  # sessions deleted since: forget them
        from clinvk.store.queries import present_ids

        present = present_ids(app.store, stale)
        drop += [sid for sid in stale if sid not in present]
    if put or drop:
        cache.update(put, drop)
    return uncached


def cached_matches(app: App, lights: list[dict[str, Any]], needle: str, load: Loader,
                   locate: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, list[str]], set[str]] | None:
    """({id: its flattened texts from the first that contains needle on} of the sessions
    whose conversation contains needle, the ids the cache cannot answer for), or None when
    there is no usable cache."""
    import sqlite3

    if app.store.read_only or not lights:
        return None
    if not app.settings.get("session.store_prompts"):  # keep no copy of conversations
        remove(app.store.home)
        return None
    try:
        cache = TranscriptCache(cache_path(app.store.home))
    except (sqlite3.Error, OSError):
        return None
    try:
        uncached = _refresh(app, cache, lights, load, locate)
        wanted = {light["id"] for light in lights} - uncached
        return cache.matching(" ".join(needle.split()).lower(), wanted), uncached
    except sqlite3.Error:
        return None
    finally:
        cache.close()
