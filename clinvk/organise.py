"""Tags, title and metadata of a session. Every change is one read-modify-write under the
store's lock (SessionStore.update), so two terminals changing the same session lose nothing,
and the index row is rewritten with it, so list filters and search see it at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from clinvk.errors import UsageError
from clinvk.store.record_check import META_VALUE_MAX
from clinvk.store.session import make_title
from clinvk.words import META_KEY_MAX, check_tags, check_word

if TYPE_CHECKING:
    from clinvk.store import SessionStore


def _utf8(kind: str, value: str) -> str:
    """UsageError for text with an undecodable byte (a lone surrogate): a session record
    holds UTF-8 text only (a turn's title and tags get U+FFFD instead, see clinvk.prompt)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        from clinvk.display import printable

        raise UsageError(f"invalid {kind} {printable(value)}: not UTF-8 text") from None
    return value


def check_key(key: str) -> str:
    check_word("metadata key", key, "`sessions meta ID ticket ABC-12`", META_KEY_MAX)
    if "=" in key:
        raise UsageError(f"invalid metadata key {key!r}: '=' is not allowed (it separates key "
                         "and value in --meta KEY=VALUE)")
    return key


def add_tags(store: SessionStore, session_id: str, tags: Iterable[str]) -> dict[str, Any]:
    """Add tags (those already there are kept where they are); returns the record."""
    wanted = [_utf8("tag", tag) for tag in check_tags(tags)]

    def change(record: dict[str, Any]) -> None:
        record["tags"] = list(dict.fromkeys([*record.get("tags", []), *wanted]))

    return store.update(session_id, change)


def remove_tags(store: SessionStore, session_id: str, tags: Iterable[str]) -> dict[str, Any]:
    """Remove tags (absent ones are ignored); returns the record."""
    unwanted = set(tags)

    def change(record: dict[str, Any]) -> None:
        record["tags"] = [tag for tag in record.get("tags", []) if tag not in unwanted]

    return store.update(session_id, change)


def check_title(title: str) -> str:
    """A title as typed, as a record keeps it (first non-blank line, whitespace collapsed, at
    most 80 characters); UsageError when it is empty or not UTF-8 text."""
    clean = make_title(_utf8("title", title))
    if not clean:
        raise UsageError('empty title: give one, e.g. "fix the parser"')
    return clean


def rename(store: SessionStore, session_id: str, title: str) -> dict[str, Any]:
    """Set the title: first non-blank line, whitespace collapsed, at most 80 characters."""
    clean = check_title(title)

    def change(record: dict[str, Any]) -> None:
        record["title"] = clean

    return store.update(session_id, change)


def set_meta(store: SessionStore, session_id: str, key: str, value: str) -> dict[str, Any]:
    """Set one metadata entry; returns the record."""
    check_key(_utf8("metadata key", key))
    _utf8("metadata value", value)
    if len(value) > META_VALUE_MAX:
        raise UsageError(f"metadata value is longer than {META_VALUE_MAX} characters")
    if any(ch in "\x1e\x1f" for ch in value):
        raise UsageError("invalid metadata value: characters \\x1e and \\x1f are not allowed")

    def change(record: dict[str, Any]) -> None:
        record["metadata"] = {**record.get("metadata", {}), key: value}

    return store.update(session_id, change)


def unset_meta(store: SessionStore, session_id: str, key: str) -> tuple[dict[str, Any], bool]:
    """Remove one metadata entry; returns the record and whether the key was there."""
    found: list[bool] = []

    def change(record: dict[str, Any]) -> None:
        meta = dict(record.get("metadata", {}))
        found.append(meta.pop(key, None) is not None)
        record["metadata"] = meta

    record = store.update(session_id, change)
    return record, bool(found and found[-1])
