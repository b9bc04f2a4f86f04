"""The bytes sessions take, as `sessions stats --disk` and `sessions show` print them
(the figures come from clinvk.disk)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinvk.display import printable

if TYPE_CHECKING:
    from clinvk.app import App
    from clinvk.disk import SessionDisk
    from clinvk.store.selection import SessionFilter

_HEAD = ("ID", "BACKEND", "RECORD", "ARCHIVE", "BACKEND FILES", "TOTAL", "TITLE")


def size(n: int | None) -> str:
    """A byte count for people: "1.2 MB", "512 Bytes"; "-" for None."""
    import humanize

    return "-" if n is None else humanize.naturalsize(n)


def disk_line(disk: SessionDisk) -> str:
    """`show`'s disk line: the total and its three parts."""
    archive = size(disk.archive_bytes) if disk.archived else "-"
    return (f"{size(disk.total_bytes)} (record {size(disk.record_bytes)}, archive {archive}, "
            f"backend files {size(disk.backend_bytes)})")


def _cells(disk: SessionDisk) -> tuple[str, ...]:
    title = printable(" ".join((disk.title or "").split()))
    return (disk.id[:8], printable(disk.backend), size(disk.record_bytes),
            size(disk.archive_bytes) if disk.archived else "-", size(disk.backend_bytes),
            size(disk.total_bytes), title if len(title) <= 50 else title[:49] + "…")


def _table(rows: list[tuple[str, ...]], left: set[int]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                      for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in rows]


def print_disk(app: App, selection: SessionFilter, as_json: bool,
               session_id: str | None = None) -> None:
    """`sessions stats --disk [ID]`: one row a session (that one, or every one of the
    selection), largest first, and a total line."""
    from clinvk.commands import emit_json
    from clinvk.disk import disk_json, disk_usage, session_usage

    usage = disk_usage(app, selection) if session_id is None else session_usage(app, session_id)
    if as_json:
        emit_json(app, disk_json(usage))
        return
    total: dict[str, Any] = usage["total"]
    count = len(usage["sessions"])
    rows = [_HEAD, *(_cells(d) for d in usage["sessions"])]
    rows.append(("total", f"{count} session{'' if count == 1 else 's'}",
                 *(size(total[k]) for k in ("record_bytes", "archive_bytes", "backend_bytes",
                                            "total_bytes")), ""))
    for line in _table(rows, left={0, 1, 6}):
        app.env.stdout.write(line + "\n")
