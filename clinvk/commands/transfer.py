"""`clinvk sessions export` and `clinvk sessions import` (logic in clinvk.bundle)."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.errors import UsageError

STATUSES = ("active", "error", "interrupted")


def _meta(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise UsageError(f"--meta wants KEY=VALUE, not {value!r}")
        out[key] = val
    return out


def _filters(app: App, opts: dict[str, Any]) -> dict[str, Any]:
    """store.list keyword arguments from list's filter options (only those given)."""
    from clinvk.durations import parse_when

    filters: dict[str, Any] = {}
    if opts["backend"]:
        filters["backend"] = opts["backend"]
    if opts["status"]:
        filters["status"] = opts["status"]
    if opts["here"]:
        filters["working_dir"] = app.env.cwd
    if opts["tags"]:
        filters["tags"] = tuple(opts["tags"])
    for key in ("since", "until"):
        if opts[key]:
            filters[key] = parse_when(opts[key])
    if opts["search"]:
        filters["search"] = opts["search"]
    if opts["meta"]:
        filters["meta"] = _meta(opts["meta"])
    return filters


@click.command("export")
@click.argument("session_ids", nargs=-1, metavar="[ID]...")
@click.option("--all", "export_all", is_flag=True, help="Every session.")
@click.option("-b", "--backend", metavar="NAME", help="Only this backend.")
@click.option("--status", type=click.Choice(STATUSES), help="Only sessions with this status.")
@click.option("--here", is_flag=True, help="Only sessions of the current directory.")
@click.option("-t", "--tag", "tags", multiple=True, metavar="TAG", help="Only sessions with this tag.")
@click.option("--since", metavar="WHEN", help="Only sessions used since WHEN (date, RFC 3339, 7d).")
@click.option("--until", metavar="WHEN", help="Only sessions used until WHEN.")
@click.option("--search", metavar="TEXT", help="Only sessions matching TEXT.")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Only sessions with this metadata.")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE instead of stdout.")
@click.option("--format", "fmt", type=click.Choice(["json", "markdown"]), default="json",
              show_default=True, help="A bundle to import elsewhere, or the readable conversation.")
@click.option("--no-transcript", is_flag=True, help="Leave out the backends' transcript files.")
@common_options
@pass_app
def export_cmd(app: App, session_ids: tuple[str, ...], export_all: bool, output: str | None,
               fmt: str, no_transcript: bool, **opts: Any) -> int:
    """Export sessions (IDs, --all, or list's filters) as a JSON bundle or as markdown."""
    from clinvk import bundle

    filters = _filters(app, opts)
    if session_ids and (export_all or filters):
        raise UsageError("give session IDs or --all/filters, not both")
    if not session_ids and not export_all and not filters:
        raise UsageError("which sessions? give IDs, --all, or filters such as -b, --tag, --since")
    records = bundle.select_sessions(app.store, list(session_ids), filters)
    if fmt == "markdown":
        text = bundle.markdown_export(app, records)
    else:
        text = bundle.dump(bundle.export_bundle(app, records, transcripts=not no_transcript))
    bundle.write_output(text, output, app.env.stdout)
    if output and output != "-":
        app.env.stderr.write(f"exported {len(records)} session(s) to {output}\n")
    return 0


@click.command("import")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--new-id", is_flag=True, help="Give each imported session a fresh id (a copy).")
@click.option("--title", metavar="TEXT", help="Title of the imported sessions.")
@click.option("--workdir", metavar="DIR", help="Move the sessions to this directory.")
@click.option("--force", is_flag=True, help="Replace sessions whose id exists already.")
@click.option("--json", "as_json", is_flag=True, help="Print the imported session records.")
@common_options
@pass_app
def import_cmd(app: App, files: tuple[str, ...], new_id: bool, title: str | None,
               workdir: str | None, force: bool, as_json: bool) -> int:
    """Import sessions from export bundles; nothing is written if any part is invalid."""
    from clinvk.bundle import ImportOptions, import_files

    options = ImportOptions(new_id=new_id, force=force, title=title, workdir=workdir)
    records = import_files(app, list(files), options)
    if as_json:
        emit_json(app, records)
        return 0
    for record in records:
        app.env.stdout.write(f"imported {record['id'][:8]}  {record['backend']:<7} "
                             f"{record['working_dir']}  {record.get('title') or ''}\n")
    if not records:
        app.env.stderr.write("no sessions in the input\n")
    return 0
