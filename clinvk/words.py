"""The rules a tag and a metadata key obey, and their check as typed (exit 2 before anything
runs). No store import: `-t TAG` is checked on a turn's launch path, before its backend is
spawned; the store's record check (store/record_check.py) takes its limits from here."""

from __future__ import annotations

from clinvk.errors import UsageError

TYPE_CHECKING = False  # typing is not imported before a turn's backend is spawned
if TYPE_CHECKING:
    from collections.abc import Iterable

TAG_MAX = 200  # characters of one tag
META_KEY_MAX = 200  # characters of one metadata key
MODEL_MAX = 200  # characters of a model name
_FORBIDDEN = frozenset(chr(c) for c in range(32)) | {"\x7f"}


def check_word(kind: str, value: str, example: str, limit: int = TAG_MAX) -> str:
    """value as given; UsageError when it is empty, too long or holds a control character."""
    if not value or not value.strip():
        raise UsageError(f"empty {kind}: give one, e.g. {example}")
    if len(value) > limit:
        raise UsageError(f"{kind} {value[:20]!r}... is longer than {limit} characters")
    if any(ch in _FORBIDDEN for ch in value):
        raise UsageError(f"invalid {kind} {value!r}: control characters are not allowed")
    return value


def check_tags(tags: Iterable[str]) -> list[str]:
    """The tags, de-duplicated in order; UsageError on an empty or control-character tag."""
    return list(dict.fromkeys(check_word("tag", tag, "`sessions tag ID review`") for tag in tags))
