"""Derived cache of the conversations kept by the backends, for `sessions search
--transcripts`: a repeated search reads neither nor parses the backends' store files, and
does not even look for them: an entry remembers the files it was read from, and a stat of
those tells whether it is still fresh.

One SQLite file (cache_path) beside the session index, as disposable as it: deleted,
damaged, of another version or unusable, it is rebuilt or left aside (the search then reads
the files as before). `docs` holds, per clinvk session, the key of the record it was read
for (backend, backend session id, working dir: where the files were looked for), the
signature of the backend's files it was read from (path, size, mtime_ns, inode of each
file; an mtime younger than the index's racy window is recorded as -1 so that the next
search reads the file again) and the texts of its messages, each flattened to single spaces
as transcripts.search.snippet does, joined by SEP (whitespace, so never inside a flattened
text or a query) and zlib-compressed. `grams` is a contentless FTS5 index (trigram
tokenizer, detail=none) of the distinct words of the same texts lowercased by Python: the
trigrams of every word of a query must all be there, which narrows the documents to a
superset of the matches; each is then checked with Python's `in` on the lowercased texts,
so the hits are exactly those of the scan. Queries without a word of 3 characters check
every cached document. Without FTS5 or its trigram tokenizer the cache is not used. No
Click here."""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clinvk.paths import transcript_cache_path
from clinvk.store.index import remove_database

CACHE_VERSION = 4
SEP = "\x1f"
MAX_GRAMS = 24  # trigrams of a query put in the FTS expression (the check does the rest)
_SCHEMA = (
    "CREATE TABLE docs (id INTEGER PRIMARY KEY, sid TEXT NOT NULL UNIQUE, key TEXT NOT NULL, "
    "sig TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE INDEX docs_sig ON docs(sid, key, sig);"  # read the signatures without the texts
    "CREATE VIRTUAL TABLE grams USING fts5(body, content='', detail='none', "
    "tokenize='trigram case_sensitive 1');"
)
# an entry: (key, signature), the key as record_key gives it
Entry = tuple[str, str]


def cache_path(home: Path) -> Path:
    return transcript_cache_path(Path(home))


def record_key(record: dict[str, Any]) -> str:
    """What a session's files were looked for by: its backend, backend session id and
    working dir (a move or a new backend session makes the entry look for them again)."""
    return f"{record['backend']}{SEP}{record.get('backend_session_id')}{SEP}{record['working_dir']}"


def signature(files: Iterable[Path | str]) -> str | None:
    """The files' identity as stored in docs.sig; None if one cannot be stat'ed."""
    from clinvk.archive_read import source_of
    from clinvk.store.sync import RACY_NS

    sig = []
    fresh_before = None
    for path in map(source_of, files):  # an archived copy: the archive's own file
        try:
            st = os.stat(path)
        except OSError:
            return None
        if fresh_before is None:
            fresh_before = time.time_ns() - RACY_NS
        mtime = st.st_mtime_ns if st.st_mtime_ns < fresh_before else -1
        sig.append(f"{path}{SEP}{st.st_size}{SEP}{mtime}{SEP}{st.st_ino}")
    return "\n".join(sig)


def still_fresh(sig: str) -> bool:
    """Whether the files a stored signature names are unchanged (a stat of each, nothing
    looked for); never for a signature that holds a racy (-1) mtime."""
    for line in sig.split("\n"):
        path, size, mtime, ino = line.rsplit(SEP, 3)
        if mtime == "-1":
            return False
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_mtime_ns != int(mtime) or st.st_size != int(size) or st.st_ino != int(ino):
            return False
    return True


def forget(home: Path, session_ids: Iterable[str]) -> None:
    """Drop deleted sessions' texts from the cache of the store at `home`, when there is one
    (errors ignored: the next search forgets them too). A plain function: the hook that the
    store calls on deletion."""
    path = cache_path(home)
    ids = list(session_ids)
    if not ids or not path.is_file():
        return
    import sqlite3

    try:
        cache = TranscriptCache(path)
    except (sqlite3.Error, OSError):
        return
    try:
        cache.update({}, ids)
    except sqlite3.Error:
        pass
    finally:
        cache.close()


def remove(home: Path) -> None:
    """Delete the cache file (session.store_prompts is off: keep no conversation text)."""
    remove_database(cache_path(home))


def flatten(texts: Iterable[str]) -> list[str]:
    return [" ".join(text.split()) for text in texts]


def _pack(pieces: list[str]) -> bytes:
    return zlib.compress(SEP.join(pieces).encode("utf-8"), 1)


def _unpack(body: bytes) -> list[str]:
    return zlib.decompress(body).decode("utf-8").split(SEP)


def _indexed(pieces: list[str]) -> str:
    """What `grams` indexes of a conversation: its distinct lowercased words, sorted (a
    quarter cheaper to index than the whole text; a query's trigrams are taken within its
    words, each of which lies within a word of the text)."""
    return " ".join(sorted(set(SEP.join(pieces).lower().split())))


def _fts_query(needle: str) -> str | None:
    """The FTS expression all of whose trigrams a text containing needle has; None when
    needle has no word of 3 characters."""
    grams = list(dict.fromkeys(word[i:i + 3] for word in needle.split()
                               for i in range(len(word) - 2)))
    if not grams:
        return None
    if len(grams) > MAX_GRAMS:
        step = len(grams) / MAX_GRAMS
        grams = [grams[int(i * step)] for i in range(MAX_GRAMS)] + [grams[-1]]
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def from_match(pieces: list[str], needle: str) -> list[str] | None:
    """The texts from the first that contains needle on, or None if none does (the search
    stops at the first text that matches: the earlier ones are not needed)."""
    for n, piece in enumerate(pieces):
        if needle in piece.lower():
            return pieces[n:]
    return None


class TranscriptCache:
    """The cache file of one $CLINVK_HOME; every method raises sqlite3.Error on trouble."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        self.path = path
        try:
            self.db = self._open(sqlite3)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise
            remove_database(path)  # damaged: start again
            self.db = self._open(sqlite3)

    def _open(self, sqlite3: Any) -> Any:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        os.close(fd)
        db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_VERSION:
                db.executescript(f"BEGIN IMMEDIATE;DROP TABLE IF EXISTS docs;DROP TABLE IF EXISTS "
                                 f"grams;{_SCHEMA}PRAGMA user_version={CACHE_VERSION};COMMIT;")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA secure_delete=ON")  # a forgotten conversation is overwritten
        except BaseException:
            db.close()
            raise
        return db

    def close(self) -> None:
        self.db.close()

    def signatures(self) -> dict[str, str]:
        """sid -> stored signature of every cached session."""
        return dict(self.db.execute("SELECT sid, sig FROM docs"))

    def entries(self) -> dict[str, Entry]:
        """sid -> (key, signature) of every cached session."""
        return {sid: (key, sig) for sid, key, sig in self.db.execute("SELECT sid, key, sig FROM docs")}

    def update(self, put: dict[str, tuple[str, list[str]]], drop: Iterable[str],
               keys: dict[str, str] | None = None) -> None:
        """Store (signature, flattened texts) per sid (with its record_key from keys, when
        given) and forget the sids in drop, in one transaction."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            for sid in [*drop, *put]:
                row = db.execute("SELECT id, body FROM docs WHERE sid = ?", (sid,)).fetchone()
                if row is not None:
                    db.execute("INSERT INTO grams(grams, rowid, body) VALUES ('delete', ?, ?)",
                               (row[0], _indexed(_unpack(row[1]))))
                    db.execute("DELETE FROM docs WHERE id = ?", (row[0],))
            for sid, (sig, pieces) in put.items():
                rowid = db.execute("INSERT INTO docs (sid, key, sig, body) VALUES (?, ?, ?, ?)",
                                   (sid, (keys or {}).get(sid, ""), sig, _pack(pieces))).lastrowid
                db.execute("INSERT INTO grams(rowid, body) VALUES (?, ?)", (rowid, _indexed(pieces)))
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def candidates(self, needle: str) -> set[str] | None:
        """The sids whose texts may contain needle (already lowercased and single-spaced):
        all trigrams of its words are there; None (every one may) when it has no word of 3
        characters."""
        query = _fts_query(needle)
        if query is None:
            return None
        rows = self.db.execute("SELECT sid FROM docs WHERE id IN (SELECT rowid FROM grams "
                               "WHERE grams MATCH ?)", (query,))
        return {sid for (sid,) in rows}

    def texts(self, sid: str) -> list[str] | None:
        """The flattened texts cached for sid (None when there are none)."""
        row = self.db.execute("SELECT body FROM docs WHERE sid = ?", (sid,)).fetchone()
        return None if row is None else _unpack(row[0])

    def matches(self, needle: str, sids: Iterable[str]) -> Iterator[tuple[str, list[str]]]:
        """(sid, flattened texts from the first that contains needle on) of the cached
        sessions among sids whose conversation contains needle (lowercased, single-spaced,
        by Python's own `in`), in the order of sids, read one at a time."""
        maybe = self.candidates(needle)
        for sid in sids:
            if maybe is not None and sid not in maybe:
                continue
            pieces = self.texts(sid)
            found = None if pieces is None else from_match(pieces, needle)
            if found is not None:
                yield sid, found

    def matching(self, needle: str, sids: set[str]) -> dict[str, list[str]]:
        """matches() of sids, all at once."""
        return dict(self.matches(needle, sorted(sids)))


def cacheable(pieces: list[str]) -> bool:
    """Texts the cache can hold as they are (no NUL, no lone surrogate)."""
    try:
        SEP.join(pieces).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any("\x00" in piece for piece in pieces)
