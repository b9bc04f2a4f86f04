"""List's filters as the user gives them (`--tag`, `--since 7d`, `--meta k=v`, `--sort`), turned
into the keyword arguments of SessionStore.list/count. No Click here: the API uses it too."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from clinvk.durations import parse_when
from clinvk.errors import UsageError

SORT_KEYS = ("last_used", "created", "title", "turns", "tokens")
_DATE_ONLY = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*")


def check_sort(sort: str | None) -> str:
    """The sort key, or UsageError naming the good ones with an example."""
    key = (sort or "last_used").strip()
    if key not in SORT_KEYS:
        raise UsageError(f"invalid sort key {sort!r}: use one of {', '.join(SORT_KEYS)} "
                         "(e.g. --sort tokens)")
    return key


def parse_until(value: str, now: datetime | None = None) -> datetime:
    """Like parse_when, but a bare date means the end of that day (UTC), so that
    `--since 2026-11-01 --until 2026-11-01` is that whole day."""
    when = parse_when(value, now)
    if _DATE_ONLY.fullmatch(value):
        when += timedelta(days=1) - timedelta(microseconds=1)
    return when


def parse_meta(pairs: Iterable[str]) -> dict[str, str]:
    """`KEY=VALUE` strings as a dict; UsageError with an example on anything else."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid --meta {pair!r}: use KEY=VALUE, e.g. --meta ticket=ABC-12")
        out[key] = value
    return out


def build_filters(
    *, backend: str | None = None, status: str | None = None,
    working_dir: str | os.PathLike[str] | None = None, tags: Iterable[str] = (),
    since: str | datetime | None = None, until: str | datetime | None = None,
    search: str | None = None, meta: Iterable[str] | dict[str, str] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Keyword arguments for SessionStore.list/count/query from user-given values.

    since/until take a date (2026-11-01), an RFC 3339 timestamp or a duration meaning that
    long ago (7d); meta takes `KEY=VALUE` strings or a dict. Raises UsageError (exit 2)."""
    if isinstance(since, str):
        since = parse_when(since, now)
    if isinstance(until, str):
        until = parse_until(until, now)
    if meta is not None and not isinstance(meta, dict):
        meta = parse_meta(meta)
    return {
        "backend": backend, "status": status, "working_dir": working_dir,
        "tags": tuple(dict.fromkeys(tags)), "since": since, "until": until,
        "search": search or None, "meta": dict(meta or {}),
    }
