"""Which sessions a query selects, as one frozen value (`SessionFilter`): the store's own
type, built by the commands and the API (clinvk.filters parses it from the user's options)
and handed unchanged to the index query."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

from clinvk.errors import UsageError
from clinvk.records import Record, replace

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any

SORT_KEYS = ("last_used", "created", "title", "turns", "tokens")  # schema.ORDERS: their columns
SORT_KEYS_SAID = f"{', '.join(SORT_KEYS[:-1])} or {SORT_KEYS[-1]}"  # for messages and help
SORT_ALIASES = {"created_at": "created"}  # accepted from the API, as the store always did
# the options of `sessions list` that parse_filter reads (filter_options, sort_options, -n, --all)


class SessionFilter(Record, frozen=True):
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
