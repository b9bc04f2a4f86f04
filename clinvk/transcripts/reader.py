"""The conversations `sessions search --transcripts` looks in: read from the backends' own
store files, narrowed first by the transcript cache (transcripts.lookup) and, without one,
by a look for the query in the raw files; sessions whose transcript cannot be read are
counted, and said to `warn` when one is given."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinvk.errors import ClinvkError
from clinvk.transcripts.access import Context, backend_context, load_transcript, transcript_files
from clinvk.transcripts.lookup import CachedAnswer, cached_matches

if TYPE_CHECKING:
    from clinvk.app import App

# characters no JSON encoder escapes: a word of the query made only of them can be looked
# for in the raw store files first, and only files that contain it need to be parsed
_RAW_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      ".,:;-_+=*#@!?()[]{}%$^|~`")
# the only characters whose str.lower() holds an ASCII letter (KELVIN SIGN -> k, I WITH DOT
# ABOVE -> i), raw and JSON-escaped: with a k or an i in the query, a file holding one may
# match and must be parsed
_LOWERS_TO_ASCII = ("\u212a".encode(), "\u0130".encode(), b"\\u212a", b"\\u0130")


def raw_prefilter(query: str) -> bytes | None:
    """The lowercased bytes to look for in raw store files: the longest word of the query
    (the conversation's whitespace is flattened before matching, so a run of spaces or a
    line break may stand between two words), or None when it could be escaped in JSON
    (then every transcript is parsed)."""
    word = max(query.split(), key=len, default="")
    return word.lower().encode() if word and set(word) <= _RAW_SAFE else None


def _raw_contains(files: list[Path], needle: bytes) -> bool:
    odd = _LOWERS_TO_ASCII if b"i" in needle or b"k" in needle else ()
    for path in files:
        try:
            with open(path, "rb") as fh:
                raw = fh.read().lower()
        except OSError:
            return True  # let the real reader report it
        if needle in raw or any(char in raw for char in odd):
            return True
    return False


class BackendTranscriptReader:
    """transcripts.search.TranscriptReader over the backends' stores, for one query.

    `unreadable` lists the ids of the sessions whose transcript could not be read; `warn`,
    when given, is told why for each."""

    def __init__(self, app: App, query: str, warn: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.warn = warn
        self.unreadable: list[str] = []
        self._needle = raw_prefilter(query)
        self._contexts: dict[str, Context] = {}
        self._located: dict[str, tuple[Any, list[Path]] | ClinvkError] = {}
        self._answer: CachedAnswer | None = None  # the cache's, once narrow() asked it

    def narrow(self, records: list[dict[str, Any]], query: str) -> set[str] | None:
        """The ids of records whose conversation may contain query, answered from the
        transcript cache (None when there is no usable cache)."""
        self.close()
        self._answer = cached_matches(self.app, records, query, self._load, self._locate)
        return None if self._answer is None else self._answer.keep

    def read(self, record: dict[str, Any]) -> Iterable[str]:
        """The texts of a record's conversation; none when it cannot be read or, by its raw
        files, cannot contain the query."""
        if self._answer is not None:
            cached = self._answer.texts_from_match(record["id"])
            if cached is not None:
                return cached
        try:
            found = self._locate(record)
            if self._needle is not None and not _raw_contains(found[1], self._needle):
                return ()
            transcript = load_transcript(self.app, record, found)
        except ClinvkError as exc:
            self._unreadable(record, exc.message)
            return ()
        except Exception as exc:  # a backend store we cannot parse must not stop the search
            self._unreadable(record, f"cannot read the transcript of {record['id'][:8]}: {exc}")
            return ()
        return [m.text for m in transcript.messages if m.text]

    def close(self) -> None:
        """Let go of the transcript cache (search calls it when done)."""
        if self._answer is not None:
            self._answer.close()
            self._answer = None

    def _unreadable(self, record: dict[str, Any], why: str) -> None:
        self.unreadable.append(record["id"])
        if self.warn is not None:
            self.warn(why)

    def _locate(self, record: dict[str, Any]) -> tuple[Any, list[Path]]:
        """A record's adapter and files, looked for once per search (the cache's fill and
        the reading after it ask for the same ones)."""
        sid = record["id"]
        if sid not in self._located:
            try:
                backend = record["backend"]
                if backend not in self._contexts:
                    self._contexts[backend] = backend_context(self.app, record)
                self._located[sid] = transcript_files(self.app, record, self._contexts[backend])
            except ClinvkError as exc:
                self._located[sid] = exc
        found = self._located[sid]
        if isinstance(found, ClinvkError):
            raise found
        return found

    def _load(self, record: dict[str, Any], found: tuple[Any, list[Path]]) -> list[str] | None:
        try:
            transcript = load_transcript(self.app, record, found)
        except Exception:  # left to read(), which reports it
            return None
        return [m.text for m in transcript.messages if m.text]
