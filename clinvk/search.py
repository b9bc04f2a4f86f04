"""`sessions search`: find sessions by a text in their title, prompts, tags and metadata
(from the index: only the sessions returned are read), and optionally in the
conversations kept by the backends themselves. No Click here: the API uses it too."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from clinvk.errors import ClinvkError, UsageError
from clinvk.filters import SessionFilter
from clinvk.index_schema import ORDERS

if TYPE_CHECKING:
    from clinvk.store import SessionStore

SNIPPET_WIDTH = 40  # characters shown on each side of the match
DEFAULT_SELECTION = SessionFilter(limit=20)  # `sessions search` without options
# record -> texts of its conversation; it may also have `narrow(records, query)`: the ids
# of those records whose conversation may contain query (None: it cannot tell)
TranscriptReader = Callable[[dict[str, Any]], Iterable[str]]


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
    read_transcript (record -> texts of its conversation), those whose conversation does.
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
        for hit in _transcript_hits(store, needle, selection, read_transcript, seen):
            hits.append(hit)
            if limit is not None and len(hits) >= limit:
                break
    return hits


def _transcript_hits(
    store: SessionStore, needle: str, selection: SessionFilter,
    read_transcript: TranscriptReader, seen: set[str],
) -> Iterator[Hit]:
    """Sessions whose conversation contains needle, found from index rows; only the
    records of hits are read from their files."""
    column, desc = ORDERS[selection.order]
    direction = "ASC" if desc == selection.reverse else "DESC"
    rows = store.query("SELECT id, backend, backend_session_id, working_dir FROM sessions{where}"
                       f" ORDER BY {column} {direction}, id {direction}",
                       selection, resumable=True)
    lights = [{"id": sid, "backend": backend, "backend_session_id": backend_session_id,
               "working_dir": working_dir}
              for sid, backend, backend_session_id, working_dir in rows if sid not in seen]
    # a reader with a cache (search_cmd) says which sessions can match at all
    narrow = getattr(read_transcript, "narrow", None)
    keep = narrow(lights, needle) if narrow is not None else None
    for light in lights:
        if keep is not None and light["id"] not in keep:
            continue
        for text in read_transcript(light):
            found = snippet(text, needle)
            if found is not None:
                try:
                    yield Hit(store.get(light["id"]), "transcript", found)
                except ClinvkError:  # deleted meanwhile
                    pass
                break
