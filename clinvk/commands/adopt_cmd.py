"""`clinvk sessions adopt`: record the backends' own conversations (logic in clinvk.adopt)."""

from __future__ import annotations

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, not_empty, pass_app


@click.command("adopt", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-b", "--backend", "backends", metavar="NAME", multiple=True, callback=not_empty,
              help="Only this backend's store (repeatable): claude, codex or gemini.")
@click.option("--since", metavar="WHEN",
              help="Only conversations whose file changed at or after WHEN: a date "
                   "(2026-11-01), an RFC 3339 timestamp or a duration meaning that long ago (7d).")
@click.option("--dry-run", is_flag=True, help="Say what would be adopted; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON object.")
@common_options
@pass_app
def adopt_cmd(app: App, backends: tuple[str, ...], since: str | None, dry_run: bool,
              as_json: bool) -> int:
    """Record the conversations kept by the backends' own stores as sessions.

    New conversations become sessions of origin "adopted"; turns added to a known session
    outside clinvk are appended to it, marked outside. Files unchanged since the last
    adopt are not read again."""
    from clinvk.adopt import adopt
    from clinvk.durations import parse_when

    when = parse_when(since) if since is not None else None
    if dry_run:
        app.changes_nothing = True  # the store's index too is left as it is
    report = adopt(app, list(backends) or None, since=when, dry_run=dry_run)
    if as_json:
        emit_json(app, report.to_json())
        return 0
    added = sum(entry["turns_added"] for entry in report.updated)
    verb = "would adopt" if dry_run else "adopted"
    line = (f"{verb} {len(report.adopted)} new session(s); {added} outside turn(s) "
            f"{'would be ' if dry_run else ''}added to {len(report.updated)} session(s); "
            f"{len(report.skipped)} file(s) skipped, {report.unchanged} unchanged")
    app.env.stdout.write(line + "\n")
    return 0
