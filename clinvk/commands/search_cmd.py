"""`clinvk sessions search QUERY`: find sessions (logic in clinvk.transcripts)."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import LIMIT_MAX, filter_options, sort_options, take_filters


@click.command("search", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("query", nargs=-1, required=True, metavar="QUERY")
@click.option("--transcripts", is_flag=True,
              help="Also look in the conversations kept by the backends (slower).")
@filter_options(with_search=False)
@sort_options
@click.option("-n", "--limit", type=click.IntRange(min=1, max=LIMIT_MAX), default=20, show_default=True,
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
    from clinvk.transcripts.reader import BackendTranscriptReader
    from clinvk.transcripts.search import search as do_search

    selection = take_filters(app, params)
    from clinvk.adopt import auto_adopt

    auto_adopt(app)
    warn = app.env.warn if app.env.verbose else None  # why each transcript could not be read
    reader = BackendTranscriptReader(app, " ".join(query), warn) if transcripts else None
    hits = do_search(app.store, " ".join(query), selection, read_transcript=reader)
    if reader is not None and reader.unreadable and not app.env.verbose:
        app.env.warn(f"{len(reader.unreadable)} transcript(s) could not be read (-v says why)")
    if as_json:
        emit_json(app, [hit.to_json() for hit in hits])
        return 0
    if not hits:
        app.env.stderr.write("no sessions match\n")
        return 0
    from clinvk.commands.session_rows import format_rows
    from clinvk.display import printable

    for row, hit in zip(format_rows([h.record for h in hits], app.env), hits, strict=True):
        app.env.stdout.write(f"{row}\n    {printable(hit.field)}: {printable(hit.snippet)}\n")
    return 0
