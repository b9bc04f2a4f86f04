"""Named queries over the index for the readers outside the store (search, the transcript
cache), so that no SQL lives outside clinvk/store/: each returns named rows or plain sets."""

from __future__ import annotations

import json
from collections import namedtuple

from clinvk.store.schema import ORDERS

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from clinvk.store.core import SessionStore
    from clinvk.store.selection import SessionFilter


class Locator(namedtuple("Locator", ["id", "backend", "backend_session_id", "working_dir"])):
    """What a session's transcript is found by (a backend adapter's inputs). (No typing's
    NamedTuple: typing costs ~5 ms while a backend starts.)"""

    __slots__ = ()


def resumable_locators(store: SessionStore, selection: SessionFilter) -> list[Locator]:
    """The Locator of every resumable session matching selection, in its order (its limit
    aside)."""
    column, desc = ORDERS[selection.order]
    direction = "ASC" if desc == selection.reverse else "DESC"
    rows = store.query("SELECT id, backend, backend_session_id, working_dir FROM sessions{where}"
                       f" ORDER BY {column} {direction}, id {direction}",
                       selection, resumable=True)
    return [Locator._make(row) for row in rows]


def present_ids(store: SessionStore, ids: list[str]) -> set[str]:
    """Which of these session ids are in the store."""
    rows = store.query("SELECT id FROM sessions WHERE id IN (SELECT value FROM json_each(?))",
                       params=(json.dumps(list(ids)),))
    return {row[0] for row in rows}


class BackendSession(namedtuple("BackendSession", ["id", "backend", "backend_session_id"])):
    """A session and the backend session it records."""

    __slots__ = ()


def backend_sessions(store: SessionStore, backend_session_id: str | None = None
                     ) -> list[BackendSession]:
    """Every session that has a backend session id (or only those of this one), whatever
    its origin: what `sessions adopt` looks conversations up by."""
    sql = "SELECT id, backend, backend_session_id FROM sessions WHERE backend_session_id "
    if backend_session_id is None:
        return [BackendSession._make(row) for row in store.query(sql + "IS NOT NULL")]
    rows = store.query(sql + "= ?", params=(backend_session_id,))
    return [BackendSession._make(row) for row in rows]


def records_by_id(store: SessionStore, ids: list[str]) -> dict[str, dict]:
    """The records of these session ids that are in the store, read with one look at the
    index (store.get looks at it once per record)."""
    rows = store.query("SELECT id, dirkey, name FROM sessions WHERE id IN "
                       "(SELECT value FROM json_each(?))", params=(json.dumps(list(ids)),))
    found = {}
    for sid, key, name in rows:
        got = store.read_indexed(key, name)
        if got is not None:
            found[sid] = got[0]
    return found
