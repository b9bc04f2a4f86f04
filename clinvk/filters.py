"""Which sessions a command or the API wants: the user's options (`--tag`, `--since 7d`,
`--meta k=v`, `--sort`, `-n`) parsed once into the store's frozen `SessionFilter`
(clinvk.store.selection), which is then handed unchanged to list, search, stats and export
and on to the index query. No Click here: the API uses it too."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from clinvk.durations import parse_when
from clinvk.errors import UsageError
from clinvk.store.record_check import STATUSES
from clinvk.store.selection import SORT_ALIASES, SORT_KEYS, SORT_KEYS_SAID, SessionFilter

__all__ = ["OPTION_NAMES", "SORT_ALIASES", "SORT_KEYS", "SORT_KEYS_SAID", "STATUSES",
           "SessionFilter", "check_sort", "parse_filter", "parse_meta", "parse_until"]

OPTION_NAMES = ("backend", "status", "here", "tags", "since", "until", "search", "meta",
                "sort", "reverse", "limit", "show_all")
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


def parse_filter(options: Mapping[str, Any], cwd: str | None = None,
                 now: datetime | None = None) -> SessionFilter:
    """The filter of list's options as the user gave them (OPTION_NAMES; a missing one is
    not given): since/until a date (2026-11-01), an RFC 3339 timestamp or a duration meaning
    that long ago (7d), a bare --until date its whole day; meta `KEY=VALUE` strings; `here`
    the directory cwd; `show_all` no limit. Raises UsageError (exit 2)."""
    since, until = options.get("since"), options.get("until")
    return SessionFilter(
        backend=options.get("backend"), status=options.get("status"),
        working_dir=cwd if options.get("here") else None, tags=tuple(options.get("tags") or ()),
        since=None if since is None else parse_when(since, now),
        until=None if until is None else parse_until(until, now),
        search=options.get("search"), meta=parse_meta(options.get("meta") or ()),
        order=check_sort(options.get("sort")), reverse=bool(options.get("reverse")),
        limit=None if options.get("show_all") else options.get("limit"),
    )
