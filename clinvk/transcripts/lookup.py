"""`sessions search --transcripts` through the transcript cache (transcripts.cache): bring
the cache up to date for the sessions searched, then say which of them may contain the
query and hand their cached texts out one at a time.

An entry whose record key is unchanged and whose files a stat finds unchanged is fresh:
its files are not looked for again. Only sessions new to the cache, or whose record or
files changed, are looked for and read, for at most FILL_SECONDS per search (their texts
committed about every BATCH_SECONDS, so an interrupted fill keeps what it did; a progress
line on a terminal); the rest are read as without a cache (their raw files prefiltered)
and cached by the next searches. Sessions the cache cannot hold (transcript unreadable or
gone, texts it cannot store) are left to the reader, which reads them as without a cache.
Like the session index, the cache is written by this read-only command, but never when the
store is read-only (--ephemeral, --dry-run)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from clinvk.transcripts.cache import (
    Entry,
    TranscriptCache,
    cache_path,
    cacheable,
    flatten,
    from_match,
    record_key,
    remove,
    signature,
    still_fresh,
)

if TYPE_CHECKING:
    from clinvk.app import App

# seconds one search spends at most reading changed transcripts into the cache (the first
# search over a large history builds it whole: 30-40 s per 100 MB on a busy 2-CPU machine);
# the rest are read as without a cache and cached by the next searches
FILL_SECONDS = 600.0
BATCH_SECONDS = 2.0
# record, found files -> texts of its conversation, or None when it cannot be read
Loader = Callable[[dict[str, Any], Any], "list[str] | None"]
Locator = Callable[[dict[str, Any]], Any]


def _fresh(entry: Entry | None, light: dict[str, Any]) -> bool:
    return entry is not None and entry[0] == record_key(light) and still_fresh(entry[1])


class _Fill:
    """Reads the transcripts of stale entries into the cache, in committed batches."""

    def __init__(self, cache: TranscriptCache, known: dict[str, Entry]) -> None:
        self.cache = cache
        self.known = known
        self.put: dict[str, tuple[str, list[str]]] = {}
        self.keys: dict[str, str] = {}
        self.drop: list[str] = []
        self.uncached: set[str] = set()
        self.size = 0

    def add(self, light: dict[str, Any], sig: str | None, texts: list[str] | None) -> None:
        sid = light["id"]
        pieces = None if texts is None else flatten(texts)
        if sig is None or pieces is None or not cacheable(pieces):
            self.uncached.add(sid)
            if sid in self.known:
                self.drop.append(sid)
            return
        self.put[sid] = (sig, pieces)
        self.keys[sid] = record_key(light)

    def commit(self) -> None:
        if self.put or self.drop:
            self.cache.update(self.put, self.drop, self.keys)
        self.put, self.keys, self.drop = {}, {}, []


def _fill(app: App, cache: TranscriptCache, stale: list[dict[str, Any]], known: dict[str, Entry],
          load: Loader, locate: Locator) -> set[str]:
    """Re-read the stale transcripts into the cache; the ids it cannot answer for."""
    fill = _Fill(cache, known)
    deadline = time.monotonic() + FILL_SECONDS
    batch_end = time.monotonic() + BATCH_SECONDS
    with app.progress("caching transcripts", total=len(stale)) as progress:
        for n, light in enumerate(stale, start=1):
            try:
                found = locate(light)
            except Exception:  # unreadable: left to the reader, which reports it
                found = None
            sig = None if found is None else signature(found[1])
            now = time.monotonic()
            if sig is not None and now > deadline:
                fill.uncached.add(light["id"])
            else:
                fill.add(light, sig, None if sig is None else load(light, found))
            if now > batch_end:
                fill.commit()
                batch_end = time.monotonic() + BATCH_SECONDS
            progress.update(n)
        fill.commit()
    return fill.uncached


def _forget_deleted(app: App, cache: TranscriptCache, known: dict[str, Entry],
                    lights: list[dict[str, Any]]) -> None:
    searched = {light["id"] for light in lights}
    stale = [sid for sid in known if sid not in searched]
    if stale:  # sessions deleted since: forget them
        from clinvk.store.queries import present_ids

        present = present_ids(app.store, stale)
        gone = [sid for sid in stale if sid not in present]
        if gone:
            cache.update({}, gone)


class CachedAnswer:
    """What the cache says for one query: which sessions may match (`keep`), and the texts
    of a cached one from the first that contains the query on (`texts_from_match`)."""

    def __init__(self, cache: TranscriptCache, needle: str, uncached: set[str],
                 lights: list[dict[str, Any]]) -> None:
        self.cache = cache
        self.needle = needle
        self.uncached = uncached
        maybe = cache.candidates(needle)
        self.cached = {light["id"] for light in lights} - uncached
        self.keep = (self.cached if maybe is None else self.cached & maybe) | uncached

    def texts_from_match(self, sid: str) -> list[str] | None:
        """The cached texts of sid from the first containing the query on; None if it is not
        a cached session; [] if its conversation does not contain the query."""
        if sid not in self.cached:
            return None
        pieces = self.cache.texts(sid)
        return [] if pieces is None else (from_match(pieces, self.needle) or [])

    def close(self) -> None:
        self.cache.close()


def cached_matches(app: App, lights: list[dict[str, Any]], needle: str, load: Loader,
                   locate: Locator) -> CachedAnswer | None:
    """The cache's answer for the sessions of lights, brought up to date first, or None when
    there is no usable cache. The caller closes it."""
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
        known = cache.entries()
        stale = [light for light in lights if not _fresh(known.get(light["id"]), light)]
        uncached = _fill(app, cache, stale, known, load, locate) if stale else set()
        _forget_deleted(app, cache, known, lights)
        return CachedAnswer(cache, " ".join(needle.split()).lower(), uncached, lights)
    except sqlite3.Error:
        cache.close()
        return None
