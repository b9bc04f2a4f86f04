"""`clinvk sessions tag|untag|rename|meta`: organise sessions (logic in clinvk.organise)."""

from __future__ import annotations

from typing import Any

import click

from clinvk.app import App
from clinvk.commands import common_options, emit_json, pass_app
from clinvk.display import printable

_CTX = {"help_option_names": ["-h", "--help"]}


def _tags_line(record: dict[str, Any]) -> str:
    return printable(f"session {record['id'][:8]} tags: "
                     f"{', '.join(record.get('tags') or []) or '-'}") + "\n"


@click.command("tag", context_settings=_CTX)
@click.argument("session_id", metavar="ID")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@click.option("--json", "as_json", is_flag=True, help="Print the updated session record.")
@common_options
@pass_app
def tag(app: App, session_id: str, tags: tuple[str, ...], as_json: bool) -> int:
    """Add tags to a session."""
    from clinvk.organise import add_tags

    record = add_tags(app.store, session_id, tags)
    emit_json(app, record) if as_json else app.env.stdout.write(_tags_line(record))
    return 0


@click.command("untag", context_settings=_CTX)
@click.argument("session_id", metavar="ID")
@click.argument("tags", nargs=-1, required=True, metavar="TAG...")
@click.option("--json", "as_json", is_flag=True, help="Print the updated session record.")
@common_options
@pass_app
def untag(app: App, session_id: str, tags: tuple[str, ...], as_json: bool) -> int:
    """Remove tags from a session (tags it does not have are ignored)."""
    from clinvk.organise import remove_tags

    record = remove_tags(app.store, session_id, tags)
    emit_json(app, record) if as_json else app.env.stdout.write(_tags_line(record))
    return 0


@click.command("rename", context_settings=_CTX)
@click.argument("session_id", metavar="ID")
@click.argument("title", nargs=-1, required=True, metavar="TITLE")
@click.option("--json", "as_json", is_flag=True, help="Print the updated session record.")
@common_options
@pass_app
def rename(app: App, session_id: str, title: tuple[str, ...], as_json: bool) -> int:
    """Set the title of a session (words are joined by spaces; at most 80 characters)."""
    from clinvk.organise import rename as do_rename

    record = do_rename(app.store, session_id, " ".join(title))
    if as_json:
        emit_json(app, record)
    else:
        app.env.stdout.write(printable(f"session {record['id'][:8]} title: {record['title']}") + "\n")
    return 0


@click.command("meta", context_settings=_CTX)
@click.argument("session_id", metavar="ID")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.option("--unset", is_flag=True, help="Remove KEY.")
@click.option("--json", "as_json", is_flag=True, help="Print the metadata as a JSON object.")
@common_options
@pass_app
def meta(app: App, session_id: str, key: str | None, value: str | None, unset: bool,
         as_json: bool) -> int:
    """Show the metadata of a session, set KEY to VALUE, or remove KEY with --unset."""
    from clinvk import organise
    from clinvk.errors import UsageError

    if unset and (key is None or value is not None):
        raise UsageError("--unset takes a KEY and no VALUE, e.g. `sessions meta ID ticket --unset`")
    if key is not None and value is None and not unset:
        raise UsageError(f"missing VALUE for {key!r}: `sessions meta ID {key} VALUE` sets it, "
                         f"`sessions meta ID {key} --unset` removes it")
    if unset:
        record, found = organise.unset_meta(app.store, session_id, key or "")
        if not found:
            app.env.warn(f"session {record['id'][:8]} had no metadata {key!r}")
    elif key is not None:
        record = organise.set_meta(app.store, session_id, key, value or "")
    else:
        record = app.store.get(session_id)
    entries = record.get("metadata") or {}
    if as_json:
        emit_json(app, entries)
        return 0
    for name, text in sorted(entries.items()):
        app.env.stdout.write(printable(f"{name}={text}") + "\n")
    if not entries and key is None:
        app.env.stderr.write("no metadata\n")
    return 0
