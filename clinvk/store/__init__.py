"""The session store: the JSON files (the source of truth), their derived SQLite index and
every SQL query over it. Nothing here knows a backend or a derived cache: deletion hooks
are passed in by whoever builds the store (SessionStore(on_delete=...))."""

from clinvk.store.core import SessionExists, SessionStore
from clinvk.store.files import dirkey, read_session_file
from clinvk.store.selection import SessionFilter

__all__ = ["SessionExists", "SessionFilter", "SessionStore", "dirkey", "read_session_file"]
