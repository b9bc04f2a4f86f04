"""`clinvk sessions search QUERY`: find sessions (logic in clinvk.search)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import filter_options, sort_options, take_filters

# characters no JSON encoder escapes: a query made only of them can be looked for in the
# raw store files first, and only files that contain it need to be parsed
_RAW_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                      " .,:;-_+=*#@!?()[]{}%$^|~`")


def raw_prefilter(query: str) -> bytes | None:
    """The lowercased bytes to look for in raw store files, or None when the query could
    be escaped in JSON (then every transcript is parsed)."""
    needle = " ".join(query.split())
    return needle.lower().encode() if needle and set(needle) <= _RAW_SAFE else None


def _raw_contains(files: list[Any], needle: bytes) -> bool:
    for path in files:
        try:
            with open(path, "rb") as fh:
                if needle in fh.read().lower():
                    return True
        except OSError:
            return True  # let the real reader report it
    return False


def _transcript_reader(app: App, query: str) -> Any:
    """record -> texts of its conversation in the backend's store (none if unreadable)."""
    from clinvk.errors import ClinvkError
    from clinvk.transcript_render import backend_context, load_transcript, transcript_files

    unreadable: list[str] = []
    needle = raw_prefilter(query)
    contexts: dict[str, Any] = {}

    def read(record: dict[str, Any]) -> Iterable[str]:
        try:
            if record["backend"] not in contexts:
                contexts[record["backend"]] = backend_context(app, record)
            found = transcript_files(app, record, contexts[record["backend"]])
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

    read.unreadable = unreadable  # type: ignore[attr-defined]
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
def search(app: App, query: tuple[str, ...], transcripts: bool, limit: int, as_json: bool,
           sort: str, reverse: bool, **params: Any) -> int:
    """Find sessions whose title, prompts, tags or metadata contain QUERY (any case).

    With --transcripts, also those whose conversation, as the backend stored it, does.
    Each hit shows which field matched and the text around the match."""
    from clinvk.filters import check_sort
    from clinvk.search import search as do_search

    filters = take_filters(app, params)
    reader = _transcript_reader(app, " ".join(query)) if transcripts else None
    hits = do_search(app.store, " ".join(query), filters=filters, limit=limit,
                     order=check_sort(sort), reverse=reverse, read_transcript=reader)
    if reader is not None and reader.unreadable and not app.env.verbose:
        app.env.warn(f"{len(reader.unreadable)} transcript(s) could not be read (-v says why)")
    if as_json:
        emit_json(app, [hit.to_json() for hit in hits])
        return 0
    if not hits:
        app.env.stderr.write("no sessions match\n")
        return 0
    from clinvk.commands.sessions import format_rows

    for row, hit in zip(format_rows([h.record for h in hits], app.env), hits, strict=True):
        app.env.stdout.write(f"{row}\n    {hit.field}: {hit.snippet}\n")
    return 0
