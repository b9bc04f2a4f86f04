"""`clinvk sessions search QUERY`: find sessions (logic in clinvk.search)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import filter_options, sort_options, take_filters

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


def _raw_contains(files: list[Any], needle: bytes) -> bool:
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


def _transcript_reader(app: App, query: str) -> Any:
    """record -> texts of its conversation in the backend's store (none if unreadable), with
    `narrow` (search.TranscriptReader) answering from the transcript cache."""
    from clinvk.errors import ClinvkError
    from clinvk.transcript_render import backend_context, load_transcript, transcript_files

    unreadable: list[str] = []
    needle = raw_prefilter(query)
    contexts: dict[str, Any] = {}
    cached: dict[str, list[str]] = {}

    def locate(record: dict[str, Any]) -> Any:
        if record["backend"] not in contexts:
            contexts[record["backend"]] = backend_context(app, record)
        return transcript_files(app, record, contexts[record["backend"]])

    def load(record: dict[str, Any], found: Any) -> list[str] | None:
        try:
            transcript = load_transcript(app, record, found)
        except Exception:  # left to read(), which reports it
            return None
        return [m.text for m in transcript.messages if m.text]

    def read(record: dict[str, Any]) -> Iterable[str]:
        if record["id"] in cached:
            return cached.pop(record["id"])
        try:
            found = locate(record)
            if needle is not None and not _raw_contains(found[1], needle):
                return ()
            transcript = load_transcript(app, record, found)
        except ClinvkError as exc:
            unreadable.append(record["id"])
            if app.env.verbose:
                app.env.warn(exc.message)
            return ()
        except Exception as exc:  # a backend store we cannot parse must not stop the search
            unreadable.append(record["id"])
            if app.env.verbose:
                app.env.warn(f"cannot read the transcript of {record['id'][:8]}: {exc}")
            return ()
        return [m.text for m in transcript.messages if m.text]

    def narrow(records: list[dict[str, Any]], text: str) -> set[str] | None:
        from clinvk.transcript_lookup import cached_matches

        answer = cached_matches(app, records, text, load, locate)
        if answer is None:
            return None
        cached.update(answer[0])
        return set(answer[0]) | answer[1]

    read.unreadable = unreadable  # type: ignore[attr-defined]
    read.narrow = narrow  # type: ignore[attr-defined]
    return read


@click.command("search", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("query", nargs=-1, required=True, metavar="QUERY")
@click.option("--transcripts", is_flag=True,
              help="Also look in the conversations kept by the backends (slower).")
@filter_options(with_search=False)
@sort_options
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many sessions.")
@click.option("--json", "as_json", is_flag=True,
              help='A JSON array of the session records, each with "match": {"field", "snippet"}.')
@common_options
@pass_app
def search(app: App, query: tuple[str, ...], transcripts: bool, as_json: bool,
           **params: Any) -> int:
    """Find sessions whose title, prompts, tags or metadata contain QUERY (any case).

    With --transcripts, also those whose conversation, as the backend stored it, does.
    Each hit shows which field matched and the text around the match."""
    from clinvk.search import search as do_search

    selection = take_filters(app, params)
    reader = _transcript_reader(app, " ".join(query)) if transcripts else None
    hits = do_search(app.store, " ".join(query), selection, read_transcript=reader)
    if reader is not None and reader.unreadable and not app.env.verbose:
        app.env.warn(f"{len(reader.unreadable)} transcript(s) could not be read (-v says why)")
    if as_json:
        emit_json(app, [hit.to_json() for hit in hits])
        return 0
    if not hits:
        app.env.stderr.write("no sessions match\n")
        return 0
    from clinvk.commands.sessions import format_rows
    from clinvk.display import printable

    for row, hit in zip(format_rows([h.record for h in hits], app.env), hits, strict=True):
        app.env.stdout.write(f"{row}\n    {printable(hit.field)}: {printable(hit.snippet)}\n")
    return 0
