"""Which sessions a command or the API wants, as one frozen value (`SessionFilter`): parsed
once from the options the user gives (`--tag`, `--since 7d`, `--meta k=v`, `--sort`, `-n`),
then handed unchanged to list, search, stats and export and on to the index query. No
Click here: the API uses it too."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from clinvk.durations import parse_when
from clinvk.errors import UsageError
from clinvk.record_check import STATUSES

__all__ = ["SORT_KEYS", "STATUSES", "SessionFilter", "check_sort", "parse_filter", "parse_meta",
           "parse_until"]

SORT_KEYS = ("last_used", "created", "title", "turns", "tokens")  # index_schema.ORDERS: columns
SORT_KEYS_SAID = f"{', '.join(SORT_KEYS[:-1])} or {SORT_KEYS[-1]}"  # for messages and help
SORT_ALIASES = {"created_at": "created"}  # accepted from the API, as the store always did
# the options of `sessions list` that parse_filter reads (filter_options, sort_options, -n, --all)
OPTION_NAMES = ("backend", "status", "here", "tags", "since", "until", "search", "meta",
                "sort", "reverse", "limit", "show_all")
_DATE_ONLY = re.compile(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}\s*")


@dataclass(frozen=True)
class SessionFilter:
    """The sessions to select (every given criterion must match), in which order, how many.

    Values are normalised on construction: working_dir made absolute, tags a tuple without
    repeats, meta a tuple of (key, value) pairs (a dict is accepted), an empty search None,
    `created_at` read as `created`. An unknown order is a UsageError."""

    backend: str | None = None
    status: str | None = None
    working_dir: str | None = None
    tags: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    meta: tuple[tuple[str, str], ...] = ()
    resumable: bool | None = None  # only sessions with (True) or without a backend session id
    order: str = "last_used"
    reverse: bool = False
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        order = SORT_ALIASES.get(self.order, self.order)
        if order not in SORT_KEYS:
            raise UsageError(f"invalid sort order {self.order!r}: use one of {SORT_KEYS_SAID}")
        set_ = object.__setattr__
        set_(self, "order", order)
        if self.working_dir is not None:
            set_(self, "working_dir", os.path.abspath(os.fspath(self.working_dir)))
        set_(self, "tags", tuple(dict.fromkeys(self.tags)))
        meta = self.meta.items() if isinstance(self.meta, Mapping) else self.meta
        set_(self, "meta", tuple(dict(meta).items()))
        set_(self, "search", self.search or None)

    @classmethod
    def of(cls, base: SessionFilter | None = None, **changes: Any) -> SessionFilter:
        """base with these fields changed (a new filter when base is None); TypeError on a
        name that is no field."""
        return cls(**changes) if base is None else replace(base, **changes) if changes else base

    @property
    def narrows(self) -> bool:
        """Whether any criterion is given (an empty text is none, as on the command line);
        else every session is selected."""
        return self.resumable is not None or any(getattr(self, name) for name in _CRITERIA)


_CRITERIA = ("backend", "status", "working_dir", "tags", "since", "until", "search", "meta")


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
