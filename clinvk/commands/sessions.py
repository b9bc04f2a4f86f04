"""`clinvk sessions`: the group (its other subcommands imported lazily, see LAZY) and
`list`, `show`, `delete`, `clean`."""

from __future__ import annotations

import json
from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import LIMIT_MAX, filter_options, sort_options, take_filters
from clinvk.commands.session_rows import HEADER, ago, align, cells, format_rows
from clinvk.display import json_text, printable
from clinvk.env import Environment
from clinvk.lazy_group import LazyGroup

# the subcommands kept in their own modules, imported only when run (see lazy_group)
LAZY: dict[str, str] = {
    "search": "clinvk.commands.search_cmd:search",
    "tag": "clinvk.commands.organise:tag",
    "untag": "clinvk.commands.organise:untag",
    "rename": "clinvk.commands.organise:rename",
    "meta": "clinvk.commands.organise:meta",
    "stats": "clinvk.commands.stats_cmd:stats",
    "export": "clinvk.commands.transfer:export_cmd",
    "import": "clinvk.commands.transfer:import_cmd",
    "adopt": "clinvk.commands.adopt_cmd:adopt_cmd",
}
# their short help for `clinvk sessions --help` (tests/test_sessions_cli.py checks them)
SUMMARIES: dict[str, str] = {
    "search": "Find sessions whose title, prompts, tags or metadata contain QUERY (any case).",
    "tag": "Add tags to a session.",
    "untag": "Remove tags from a session (tags it does not have are ignored).",
    "rename": "Set the title of a session (words are joined by spaces; at most 80 characters).",
    "meta": "Show the metadata of a session, set KEY to VALUE, or remove KEY with --unset.",
    "stats": ("Sessions, turns, tokens, cache-hit ratio (cached/input), turn durations (median, "
              "p95) and cost where known, in total or grouped; with ID, the per-turn table of "
              "that session."),
    "export": "Export sessions (IDs, --all, or list's filters) as a JSON bundle or as markdown.",
    "import": "Import sessions from export bundles; nothing is written if any part is invalid.",
    "adopt": "Record the conversations kept by the backends' own stores as sessions.",
}


@click.group("sessions", cls=LazyGroup, lazy=LAZY, summaries=SUMMARIES,
             context_settings={"help_option_names": ["-h", "--help"]})
@common_options
def sessions() -> None:
    """List, show, delete and clean recorded sessions."""


@sessions.command("list")
@filter_options
@sort_options
@click.option("-n", "--limit", type=click.IntRange(min=1, max=LIMIT_MAX), default=20, show_default=True,
              help="At most this many rows.")
@click.option("--all", "show_all", is_flag=True, help="All rows (no limit).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the session records.")
@common_options
@pass_app
def list_cmd(app: App, as_json: bool, **params: Any) -> int:
    """List sessions, most recently used first (see --sort)."""
    selection = take_filters(app, params)
    from clinvk.adopt import auto_adopt

    auto_adopt(app)
    found = app.store.list(selection)
    if as_json:
        emit_json(app, found)
        return 0
    out = app.env.stdout
    if not found:
        app.env.stderr.write("no sessions\n")
        return 0
    for line in align([HEADER, *cells(found, app.env)]):
        out.write(line + "\n")
    if selection.limit is not None:
        total = app.store.count(selection)
        if total > len(found):
            app.env.stderr.write(f"({len(found)} of {total}; use -n or --all for more)\n")
    return 0


@sessions.command("show")
@click.argument("session_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="The session record as JSON.")
@click.option("--transcript", is_flag=True,
              help="Print the conversation, read from the backend's own store.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              help="With --transcript: text (default), markdown or json.")
@common_options
@pass_app
def show(app: App, session_id: str, as_json: bool, transcript: bool, fmt: str | None) -> int:
    """Show every field of one session, or with --transcript its conversation."""
    from clinvk.errors import UsageError

    if fmt and not transcript:
        raise UsageError("--format goes with --transcript")
    record, key, name = app.store.locate(session_id)
    if transcript:
        from clinvk.transcripts.access import load_transcript
        from clinvk.transcripts.render import render

        fmt = fmt or ("json" if as_json else "text")
        text = render(load_transcript(app, record), record, fmt)
        app.env.stdout.write(json_text(text) if fmt == "json" else printable(text, lines=True))
        return 0
    if as_json:  # the record itself, as SPEC says (`stats --disk ID --json` has its bytes)
        emit_json(app, record)
        return 0
    from clinvk.commands.disk_view import disk_line
    from clinvk.disk import session_disk

    disk = session_disk(app, record, app.store.root / key / name)

    app.env.stdout.write(describe(record, app.env, disk=disk_line(disk)))
    return 0


def describe(record: dict[str, Any], env: Environment, disk: str | None = None) -> str:
    """Human-readable view of every field, times absolute and relative."""
    import humanize

    usage = record.get("token_usage") or {}
    lines = [
        f"id:                 {record['id']}",
        f"title:              {record.get('title') or ''}",
        f"backend:            {record['backend']}",
        f"backend session id: {record.get('backend_session_id') or '(none: not resumable)'}",
        f"model:              {record.get('model') or '(unknown)'}",
        f"working dir:        {record['working_dir']}",
        f"status:             {record['status']}",
    ]
    if record.get("error"):
        lines.append(f"error:              {record['error']}")
    lines += [
        f"created:            {record.get('created_at')} ({ago(record.get('created_at'))})",
        f"last used:          {record.get('last_used')} ({ago(record.get('last_used'))})",
        f"turns:              {record.get('turn_count', 0)}",
    ]
    if usage:
        lines.append("tokens:             " + ", ".join(
            f"{k.replace('_tokens', '').replace('_', ' ')} {humanize.intcomma(v)}"
            for k, v in usage.items()))
    if record.get("cost_usd") is not None:
        rough = " (estimated)" if record.get("cost_source") == "estimated" else ""
        lines.append(f"cost:               ${record['cost_usd']:.6f}{rough}")
    if disk:
        lines.append(f"disk:               {disk}")
    lines.append(f"tags:               {', '.join(record.get('tags') or []) or '-'}")
    if record.get("parent_id"):
        lines.append(f"parent:             {record['parent_id']}")
    for key, value in sorted((record.get("metadata") or {}).items()):
        lines.append(f"meta {key}: {value}")
    for n, turn in enumerate(record.get("turns") or [], start=1):
        tok = (turn.get("usage") or {}).get("total_tokens")
        lines.append(f"  turn {n}: {turn.get('at')}  exit {turn.get('exit_code')}  "
                     f"{(turn.get('duration_ms') or 0) / 1000:.1f}s"
                     + (f"  {humanize.intcomma(tok)} tokens" if tok is not None else "")
                     + (f"  {json.dumps(turn['prompt'], ensure_ascii=False)}"
                        if turn.get("prompt") else ""))
    return "".join(printable(line) + "\n" for line in lines)


@sessions.command("delete")
@click.argument("session_ids", nargs=-1, required=True, metavar="ID...")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@common_options
@pass_app
def delete(app: App, session_ids: tuple[str, ...], yes: bool) -> int:
    """Delete sessions (asks first on a terminal unless --yes)."""
    from clinvk.store.delete import find_for_delete

    store = app.store
    records: dict[str, dict[str, Any]] = {}
    damaged: dict[str, str] = {}  # id -> why its file is skipped everywhere else
    for given in session_ids:
        sid, record, reason = find_for_delete(store, given)
        if record is not None:
            records[sid] = record
        else:
            damaged[sid] = reason
    if not yes and app.env.stdin_isatty:
        for line in format_rows(list(records.values()), app.env):
            app.env.stderr.write(f"  {line}\n")
        for sid, reason in damaged.items():
            app.env.stderr.write(f"  {sid[:8]}  (damaged file: {reason[:80]})\n")
        app.env.stderr.write(f"Delete {len(records) + len(damaged)} session(s)? [y/N] ")
        app.env.stderr.flush()
        if app.env.stdin.readline().strip().lower() not in ("y", "yes"):
            app.env.stderr.write("nothing deleted\n")
            return 0
    from clinvk.store.delete import delete

    for sid in [*records, *damaged]:
        delete(store, sid)
    app.env.stdout.write(f"deleted {len(records) + len(damaged)} session(s)\n")
    return 0


@sessions.command("clean")
@click.option("--older-than", metavar="DURATION",
              help="Remove sessions unused for this long (90m, 12h, 30d, 2w; more than 0); "
                   "default session.retention_days.")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@common_options
@pass_app
def clean(app: App, older_than: str | None, dry_run: bool, as_json: bool) -> int:
    """Delete sessions whose last use is older than DURATION."""
    import humanize

    from clinvk import retention
    from clinvk.durations import parse_age

    if older_than is not None:
        age = parse_age(older_than)
    else:
        days = app.settings.get("session.retention_days")
        if days == 0:
            if as_json:
                emit_json(app, {"dry_run": dry_run, "removed": 0, "bytes_freed": 0, "sessions": []})
            else:
                app.env.stdout.write("retention_days is 0: sessions are kept forever\n")
            return 0
        from datetime import timedelta

        try:
            age = timedelta(days=days)
        except OverflowError:  # more days than a timedelta holds: clean finds none that old
            age = timedelta.max
    result = retention.clean(app.store, age, dry_run=dry_run)
    if as_json:
        emit_json(app, {"dry_run": dry_run, "removed": len(result.removed),
                        "bytes_freed": result.bytes_freed, "sessions": result.removed})
        return 0
    verb = "would remove" if dry_run else "removed"
    app.env.stdout.write(f"{verb} {len(result.removed)} session(s), "
                         f"{humanize.naturalsize(result.bytes_freed)}\n")
    return 0

