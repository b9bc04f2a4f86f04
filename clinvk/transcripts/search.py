"""`sessions search`: find sessions by a text in their title, prompts, tags and metadata
(from the index: only the sessions returned are read), and optionally in the
conversations kept by the backends themselves. No Click here: the API uses it too."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from clinvk.errors import UsageError
from clinvk.store.queries import records_by_id, resumable_locators
from clinvk.store.selection import SessionFilter

if TYPE_CHECKING:
    from clinvk.store import SessionStore

SNIPPET_WIDTH = 40  # characters shown on each side of the match

DEFAULT_SELECTION = SessionFilter(limit=20)  # `sessions search` without options
BATCH = 50  # transcript hits whose records are read at once (without a limit)


class TranscriptReader(Protocol):
    """What search needs to look in conversations (transcripts.reader has the real one);
    a reader may also have a `close()`, which search calls when it is done with it."""

    def narrow(self, records: list[dict[str, Any]], query: str) -> set[str] | None:
        """The ids of those records whose conversation may contain query (None: cannot tell)."""

    def read(self, record: dict[str, Any]) -> Iterable[str]:
        """The texts of a record's conversation (none when it cannot be read)."""


@dataclass
class Hit:
    """A session found, which of its fields matched, and the text around the match."""

    record: dict[str, Any]
    field: str  # title, prompt, tag, metadata or transcript
    snippet: str

    def to_json(self) -> dict[str, Any]:
        return {**self.record, "match": {"field": self.field, "snippet": self.snippet}}


def snippet(text: str, query: str, width: int = SNIPPET_WIDTH) -> str | None:
    """The match of query in text (any case) with up to `width` characters either side on
    one line, '…' where cut; None if text does not contain query."""
    flat = " ".join(text.split())
    needle = " ".join(query.split()).lower()
    at = flat.lower().find(needle) if needle else -1
    if at < 0:
        return None
    start, end = max(0, at - width), min(len(flat), at + len(needle) + width)
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")


def _fields(record: dict[str, Any]) -> Iterator[tuple[str, str]]:
    yield "title", record.get("title") or ""
    for turn in record.get("turns") or []:
        if isinstance(turn, dict) and turn.get("prompt"):
            yield "prompt", turn["prompt"]
    for tag in record.get("tags") or []:
        yield "tag", tag
    for key, value in (record.get("metadata") or {}).items():
        yield "metadata", f"{key}={value}"


def match_record(record: dict[str, Any], query: str) -> tuple[str, str] | None:
    """(field, snippet) of the first field of record that contains query."""
    for field, text in _fields(record):
        found = snippet(text, query)
        if found is not None:
            return field, found
    return None


def search(
    store: SessionStore, query: str, selection: SessionFilter = DEFAULT_SELECTION, /, *,
    read_transcript: TranscriptReader | None = None, **changes: Any,
) -> list[Hit]:
    """Sessions matching query and selection (keyword arguments: SessionFilter fields over
    it): first those whose title, prompts, tags or metadata contain it (index), then, given
    read_transcript, those whose conversation does.
    At most selection.limit hits, in its order."""
    if not query.strip():
        raise UsageError("empty search: give a text to look for, e.g. `sessions search parser`")
    selection = SessionFilter.of(selection, **changes)
    needle = " ".join(query.split())
    if selection.search:
        raise UsageError("sessions search takes the text as QUERY, not --search")
    limit = selection.limit
    found = store.list(selection, search=needle)
    hits = []
    for record in found:
        field, text = match_record(record, needle) or ("title", record.get("title") or "")
        hits.append(Hit(record, field, text))
    if read_transcript is not None and (limit is None or len(hits) < limit):
        seen = {hit.record["id"] for hit in hits}
        wanted = None if limit is None else limit - len(hits)
        hits += _transcript_hits(store, needle, selection, read_transcript, seen, wanted)
    return hits


def _transcript_hits(
    store: SessionStore, needle: str, selection: SessionFilter,
    read_transcript: TranscriptReader, seen: set[str], wanted: int | None,
) -> list[Hit]:
    """At most `wanted` sessions whose conversation contains needle, in the selection's
    order, found from index rows; only the records of hits are read from their files, a
    batch at a time."""
    hits: list[Hit] = []
    found = _transcript_matches(store, needle, selection, read_transcript, seen)
    try:
        while wanted is None or len(hits) < wanted:
            batch = list(islice(found, BATCH if wanted is None else wanted - len(hits)))
            if not batch:
                break
            records = records_by_id(store, [sid for sid, _ in batch])
            hits += [Hit(records[sid], "transcript", text) for sid, text in batch
                     if sid in records]  # else deleted meanwhile
    finally:
        found.close()
    return hits


def _transcript_matches(
    store: SessionStore, needle: str, selection: SessionFilter,
    read_transcript: TranscriptReader, seen: set[str],
) -> Iterator[tuple[str, str]]:
    """(id, snippet) of the sessions whose conversation contains needle, in order."""
    lights = [dict(zip(row._fields, row, strict=True))
              for row in resumable_locators(store, selection) if row.id not in seen]
    try:
        keep = read_transcript.narrow(lights, needle)  # from a cache: which can match at all
        for light in lights:
            if keep is not None and light["id"] not in keep:
                continue
            for text in read_transcript.read(light):
                found = snippet(text, needle)
                if found is not None:
                    yield light["id"], found
                    break
    finally:
        close = getattr(read_transcript, "close", None)  # a reader holding a cache open
        if close is not None:
            close()
