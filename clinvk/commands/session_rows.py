"""How sessions are shown in a table: one aligned row per session (sessions list, search,
delete's confirmation, resume -i), and the parts of a row that others show too (a
directory shortened, a time as "3 hours ago")."""

from __future__ import annotations

from typing import Any

from clinvk.display import printable
from clinvk.env import Environment

HEADER = ("ID", "BACKEND", "STATUS", "LAST USED", "TOKENS", "DIR", "TITLE")
_RIGHT = {4}  # TOKENS


def ago(stamp: str | None) -> str:
    """An RFC 3339 time as "3 hours ago"; "-" for none, the stamp itself if unreadable."""
    import humanize

    from clinvk.clock import parse_rfc3339, utc_now

    if not stamp:
        return "-"
    try:
        return humanize.naturaltime(utc_now() - parse_rfc3339(stamp))
    except ValueError:
        return printable(stamp)


def short_dir(path: str, env: Environment, width: int = 28) -> str:
    """A directory with $HOME as ~, cut from the left to `width` characters."""
    home = env.environ.get("HOME")
    if home and (path == home or path.startswith(home.rstrip("/") + "/")):
        path = "~" + path[len(home.rstrip("/")):]
    path = printable(path)
    return path if len(path) <= width else "…" + path[-(width - 1):]


def _tokens(record: dict[str, Any]) -> int:
    return int((record.get("token_usage") or {}).get("total_tokens") or 0)


def cells(records: list[dict[str, Any]], env: Environment) -> list[tuple[str, ...]]:
    """The HEADER columns of each record, as printable text."""
    import humanize

    return [(printable(r["id"][:8]), printable(r["backend"]), printable(r["status"]),
             ago(r.get("last_used")), humanize.intcomma(_tokens(r)),
             short_dir(r["working_dir"], env),
             printable((r.get("title") or "").replace("\n", " "))) for r in records]


def format_rows(records: list[dict[str, Any]], env: Environment) -> list[str]:
    """One aligned line per session: ID, BACKEND, STATUS, LAST USED, TOKENS, DIR, TITLE."""
    return align(cells(records, env))


def align(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines, columns padded to one width (the last one not)."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        parts = [c.rjust(w) if i in _RIGHT else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*parts, row[-1]]).rstrip())
    return lines
