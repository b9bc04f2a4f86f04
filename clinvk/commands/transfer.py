"""`clinvk sessions export` and `clinvk sessions import` (logic in clinvk.bundle)."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, not_empty, pass_app
from clinvk.commands.list_filters import filter_options, take_filters
from clinvk.display import json_text, printable
from clinvk.errors import UsageError


@click.command("export")
@click.argument("session_ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "export_all", is_flag=True, help="Every session.")
@filter_options
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json",
              show_default=True, help="A bundle to import elsewhere, or the readable conversation.")
@click.option("--no-transcript", is_flag=True, help="Leave out the backends' transcript files.")
@click.option("--redact", is_flag=True,
              help="Replace API keys, tokens, private keys and secret KEY=VALUE values with "
                   "[REDACTED:<kind>] everywhere (best effort).")
@common_options
@pass_app
def export_cmd(app: App, session_ids: tuple[str, ...], export_all: bool, output: str | None,
               fmt: str, no_transcript: bool, redact: bool, **opts: Any) -> int:
    """Export sessions (IDs, --all, or list's filters) as a JSON bundle or as markdown."""
    from clinvk import bundle

    selection = take_filters(app, opts)
    given = selection.narrows
    if session_ids and (export_all or given):
        raise UsageError("give session IDs or --all/filters, not both")
    if not session_ids and not export_all and not given:
        raise UsageError("which sessions? give IDs, --all, or filters such as -b, --tag, --since")
    records = bundle.select_sessions(app.store, list(session_ids), selection)
    if fmt == "markdown":
        text = printable(bundle.markdown_export(app, records, redact), lines=True)
    else:
        text = json_text(bundle.dump(bundle.export_bundle(app, records, transcripts=not no_transcript,
                                                          redact=redact)))
    bundle.write_output(text, output, app.env.stdout)
    if output and output != "-":
        app.env.stderr.write(f"exported {len(records)} session(s) to {printable(output)}\n")
    return 0


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--new-id", is_flag=True, help="Give each imported session a fresh id (a copy).")
@click.option("--title", metavar="TEXT", help="Title of the imported sessions.")
@click.option("--workdir", metavar="DIR", callback=not_empty,
              help="Move the sessions to this directory.")
@click.option("--force", is_flag=True, help="Replace sessions whose id exists already.")
@click.option("--json", "as_json", is_flag=True, help="Print the imported session records.")
@common_options
@pass_app
def import_cmd(app: App, files: tuple[str, ...], new_id: bool, title: str | None,
               workdir: str | None, force: bool, as_json: bool) -> int:
    """Import sessions from export bundles; nothing is written if any part is invalid."""
    from clinvk.bundle_import import ImportOptions, import_files
    from clinvk.organise import check_title

    if title is not None:
        title = check_title(title)
    options = ImportOptions(new_id=new_id, force=force, title=title, workdir=workdir)
    records = import_files(app, list(files), options)
    app.clean_keeps = frozenset(r["id"] for r in records)  # not removed by this command's clean
    _warn_if_expired(app, records)
    if as_json:
        emit_json(app, records)
        return 0
    for record in records:
        app.env.stdout.write(printable(f"imported {record['id'][:8]}  {record['backend']:<7} "
                                       f"{record['working_dir']}  {record.get('title') or ''}")
                             + "\n")
    if not records:
        app.env.stderr.write("no sessions in the input\n")
    return 0


def _warn_if_expired(app: App, records: list[dict[str, Any]]) -> None:
    """Imported sessions last used longer ago than retention_days: the next daily clean
    removes them (not this command's own); say so, and how to keep them."""
    from datetime import timedelta

    from clinvk.clock import time_or_none, utc_now

    days = app.settings.get("session.retention_days")
    if not app.settings.get("session.auto_clean"):  # cleaning is the user's own doing then
        return
    try:
        cutoff = utc_now() - timedelta(days=days) if days else None
    except OverflowError:
        cutoff = None
    if cutoff is None:
        return
    old = [r for r in records if (time_or_none(r.get("last_used")) or cutoff) < cutoff]
    if old:
        app.env.warn(f"{len(old)} imported session(s) last used more than {days} days ago: "
                     "the retention clean removes them (its next daily run, or `sessions "
                     "clean`); set session.retention_days to 0 (keep all) or more days to "
                     "keep them")
