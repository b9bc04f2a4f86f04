"""`clinvk sessions list|show|delete|clean`."""

from __future__ import annotations

import json
from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.commands.list_filters import filter_options, sort_options, take_filters
from clinvk.display import json_text, printable
from clinvk.env import Environment


@click.group("sessions", context_settings={"help_option_names": ["-h", "--help"]})
@common_options
def sessions() -> None:
    """List, show, delete and clean recorded sessions."""


def _ago(stamp: str | None) -> str:
    import humanize

    from clinvk.clock import parse_rfc3339, utc_now

    if not stamp:
        return "-"
    try:
        return humanize.naturaltime(utc_now() - parse_rfc3339(stamp))
    except ValueError:
        return printable(stamp)


def _short_dir(path: str, env: Environment, width: int = 28) -> str:
    home = env.environ.get("HOME")
    if home and (path == home or path.startswith(home.rstrip("/") + "/")):
        path = "~" + path[len(home.rstrip("/")):]
    path = printable(path)
    return path if len(path) <= width else "…" + path[-(width - 1):]


def _tokens(record: dict[str, Any]) -> int:
    return int((record.get("token_usage") or {}).get("total_tokens") or 0)


def _cells(records: list[dict[str, Any]], env: Environment) -> list[tuple[str, ...]]:
    import humanize

    return [(printable(r["id"][:8]), printable(r["backend"]), printable(r["status"]),
             _ago(r.get("last_used")), humanize.intcomma(_tokens(r)),
             _short_dir(r["working_dir"], env),
             printable((r.get("title") or "").replace("\n", " "))) for r in records]


def format_rows(records: list[dict[str, Any]], env: Environment) -> list[str]:
    """One aligned line per session: ID, BACKEND, STATUS, LAST USED, TOKENS, DIR, TITLE."""
    return _align(_cells(records, env))


def _align(cells: list[tuple[str, ...]]) -> list[str]:
    if not cells:
        return []
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    right = {4}  # TOKENS
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*parts, row[-1]]).rstrip())
    return lines


@sessions.command("list")
@filter_options
@sort_options
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="At most this many rows.")
@click.option("--all", "show_all", is_flag=True, help="All rows (no limit).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of the session records.")
@common_options
@pass_app
def list_cmd(app: App, as_json: bool, **params: Any) -> int:
    """List sessions, most recently used first (see --sort)."""
    selection = take_filters(app, params)
    found = app.store.list(selection)
    if as_json:
        emit_json(app, found)
        return 0
    out = app.env.stdout
    if not found:
        app.env.stderr.write("no sessions\n")
        return 0
    header = ("ID", "BACKEND", "STATUS", "LAST USED", "TOKENS", "DIR", "TITLE")
    for line in _align([header, *_cells(found, app.env)]):
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
    record = app.store.get(session_id)
    if transcript:
        from clinvk.transcript_render import load_transcript, render

        fmt = fmt or ("json" if as_json else "text")
        text = render(load_transcript(app, record), record, fmt)
        app.env.stdout.write(json_text(text) if fmt == "json" else printable(text, lines=True))
        return 0
    if as_json:
        emit_json(app, record)
        return 0
    app.env.stdout.write(describe(record, app.env))
    return 0


def describe(record: dict[str, Any], env: Environment) -> str:
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
        f"created:            {record.get('created_at')} ({_ago(record.get('created_at'))})",
        f"last used:          {record.get('last_used')} ({_ago(record.get('last_used'))})",
        f"turns:              {record.get('turn_count', 0)}",
    ]
    if usage:
        lines.append("tokens:             " + ", ".join(
            f"{k.replace('_tokens', '').replace('_', ' ')} {humanize.intcomma(v)}"
            for k, v in usage.items()))
    if record.get("cost_usd") is not None:
        lines.append(f"cost:               ${record['cost_usd']:.6f}")
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
    from clinvk.store_write import find_for_delete

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
    from clinvk.store_delete import delete

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

        age = timedelta(days=days)
    result = retention.clean(app.store, age, dry_run=dry_run)
    if as_json:
        emit_json(app, {"dry_run": dry_run, "removed": len(result.removed),
                        "bytes_freed": result.bytes_freed, "sessions": result.removed})
        return 0
    verb = "would remove" if dry_run else "removed"
    app.env.stdout.write(f"{verb} {len(result.removed)} session(s), "
                         f"{humanize.naturalsize(result.bytes_freed)}\n")
    return 0



def _register() -> None:
    """Finding, organising and measuring: commands kept in their own modules."""
    from clinvk.commands.organise import meta, rename, tag, untag
    from clinvk.commands.search_cmd import search
    from clinvk.commands.stats_cmd import stats

    for command in (search, tag, untag, rename, meta, stats):
        sessions.add_command(command)


_register()


from clinvk.commands.transfer import export_cmd, import_cmd  # noqa: E402

sessions.add_command(export_cmd, "export")
sessions.add_command(import_cmd, "import")
