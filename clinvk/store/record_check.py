"""The one check of a session record (SPEC "Session JSON"), used on every read of a file in
the store and before every write (a turn, a change, an import).

Every field's type and range is checked, so that nothing downstream (the index, whose
integers are SQLite's 64-bit ones, stats, list, show) can trip over a record that passed:
integers are plain ints within sane bounds, numbers finite and non-negative, times RFC 3339,
ids 32 lowercase hex, strings bounded. Free text that clinvk itself shortens when it records
a turn (title, prompt, error message) is shortened the same way when longer, and said so in
the notes `check_record` returns; anything else out of range makes the record invalid.
Missing optional fields get their defaults; unknown fields are kept as they are.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping

from clinvk.clock import format_rfc3339, parse_rfc3339
from clinvk.ids import is_valid_id
from clinvk.usage_keys import USAGE_KEYS, with_total
from clinvk.words import META_KEY_MAX, MODEL_MAX, TAG_MAX

SCHEMA_VERSION = 2
STATUSES = ("active", "error", "interrupted")
TITLE_MAX = 80
PROMPT_MAX = 200
NOT_STORED_TITLE = "(prompt not stored)"
ORIGINS = ("clinvk", "adopted", "imported")  # how the session came into this store
COST_SOURCES = ("reported", "estimated")  # or None: no cost known
FIELD_ORDER = (
    "schema_version", "id", "backend", "origin", "backend_session_id", "model", "working_dir",
    "title", "status", "error", "created_at", "last_used", "turn_count", "token_usage",
    "cost_usd", "cost_source", "turns", "tags", "parent_id", "metadata", "archive",
)  # fmt: skip

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any


class InvalidRecord(ValueError):
    """A JSON object that is not a valid clinvk session record."""


def ordered(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record with its fields in schema order, unknown fields kept at the end."""
    out = {key: record[key] for key in FIELD_ORDER if key in record}
    out.update((key, value) for key, value in record.items() if key not in out)
    return out


ERROR_MAX = 2000  # error message, shortened like title and prompt
BACKEND_MAX = 100  # a backend name (config keys are letters, digits, - and _)
BACKEND_SESSION_ID_MAX = 200  # the backends' ids are UUIDs (36)
PATH_MAX = 4096  # working_dir (Linux PATH_MAX)
TAGS_MAX = 10_000  # tags of one session (TAG_MAX: characters of one, clinvk.words)
META_VALUE_MAX, META_MAX = 10_000, 10_000  # META_KEY_MAX: clinvk.words
TOKENS_MAX = 10**12  # one usage counter: sums over 9 million sessions still fit 2**63
COUNT_MAX = 10**9  # turn_count
DURATION_MAX = 10**12  # ms (31 years)
EXIT_CODE_MAX = 2**31
COST_MAX = 10**9  # USD
_NO_ARGV = {chr(c) for c in range(32)} | {"\x7f"}  # not in what is passed on a command line
# a lone surrogate (an undecodable byte of an argument, a path or a backend's file, or a
# JSON \ud800 escape) cannot be written as UTF-8: no stored string holds one
_SURROGATE = re.compile("[\ud800-\udfff]")
_SHA256 = re.compile("[0-9a-f]{64}")
ARCHIVE_BYTES_MAX = 2**62


def _clip(text: str, limit: int) -> str:
    return text[: limit - 1] + "…"


def _is_int(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _text(value: Any, what: str, limit: int | None, *, empty: bool = False,
          plain: bool = False) -> str:
    """A string of at most `limit` characters (non-empty unless `empty`; with `plain`, no
    control characters), else InvalidRecord."""
    if not isinstance(value, str):
        raise InvalidRecord(f"{what} must be a string, not {_kind(value)}")
    if not value and not empty:
        raise InvalidRecord(f"{what} must not be empty")
    if limit is not None and len(value) > limit:
        raise InvalidRecord(f"{what} is longer than {limit} characters")
    if plain and any(ch in _NO_ARGV for ch in value):
        raise InvalidRecord(f"{what} contains control characters")
    if _SURROGATE.search(value):
        raise InvalidRecord(f"{what} is not UTF-8 text (it holds a lone surrogate)")
    return value


def _opt_text(record: dict[str, Any], key: str, limit: int, plain: bool = True) -> None:
    value = record.get(key) or None  # "" is as good as unknown
    if value is not None:
        _text(value, f"'{key}'", limit, plain=plain)
    record[key] = value


def _kind(value: Any) -> str:
    return "null" if value is None else {bool: "boolean", int: "integer", float: "number",
                                         str: "string", list: "list", dict: "object"}.get(
        type(value), type(value).__name__)


def _time(value: Any, what: str) -> str:
    try:
        return format_rfc3339(parse_rfc3339(value))
    except (ValueError, TypeError, OverflowError):
        raise InvalidRecord(f"{what} is not an RFC 3339 timestamp") from None


def _shorten(record: dict[str, Any], key: str, limit: int, what: str, notes: list[str]) -> None:
    value = record.get(key)
    if isinstance(value, str) and len(value) > limit:
        record[key] = _clip(value, limit)
        notes.append(f"{what} longer than {limit} characters was shortened")


def check_usage(value: Any, what: str) -> dict[str, int]:
    """The six usage counters: non-negative ints (missing ones 0; total = input + output
    when absent); InvalidRecord for anything else."""
    if not isinstance(value, dict):
        raise InvalidRecord(f"{what} must be an object, not {_kind(value)}")
    out = {}
    for key in USAGE_KEYS:
        count = value.get(key)
        if count is not None and not _is_int(count, 0, TOKENS_MAX):
            raise InvalidRecord(f"{what}.{key} must be a whole number from 0 to {TOKENS_MAX}")
        out[key] = count or 0
    return with_total(out, value.get("total_tokens"))


def _check_turn(turn: Any, n: int, notes: list[str]) -> dict[str, Any]:
    what = f"turns[{n}]"
    if not isinstance(turn, dict):
        raise InvalidRecord(f"{what} must be an object, not {_kind(turn)}")
    turn = dict(turn)
    turn["at"] = _time(turn.get("at"), f"{what}.at")
    prompt = turn.setdefault("prompt", None)
    if prompt is not None:
        _text(prompt, f"{what}.prompt", None, empty=True)
        _shorten(turn, "prompt", PROMPT_MAX, f"{what}.prompt", notes)
    for key, low, high in (("duration_ms", 0, DURATION_MAX),
                           ("exit_code", -EXIT_CODE_MAX, EXIT_CODE_MAX)):
        if not _is_int(turn.get(key), low, high):
            raise InvalidRecord(f"{what}.{key} must be a whole number from {low} to {high}")
    if turn.get("usage") is not None:
        turn["usage"] = check_usage(turn["usage"], f"{what}.usage")
    if "outside" in turn and type(turn["outside"]) is not bool:
        raise InvalidRecord(f"{what}.outside must be true or false")
    return turn


def _check_core(obj: Any, expected_id: str | None) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidRecord(f"expected a JSON object, found {_kind(obj)}")
    version = obj.get("schema_version")
    if type(version) is not int:
        raise InvalidRecord("missing or non-integer 'schema_version'")
    if version != SCHEMA_VERSION:
        raise InvalidRecord(f"unsupported schema_version {version}")
    if not is_valid_id(obj.get("id")):
        raise InvalidRecord("'id' is not 32 lowercase hex characters")
    if expected_id is not None and obj["id"] != expected_id:
        raise InvalidRecord(f"id {obj['id']} does not match the file name")
    record = dict(obj)
    backend = _text(record.get("backend"), "'backend'", BACKEND_MAX, plain=True)
    if not backend.strip():
        raise InvalidRecord("'backend' must be a non-empty string")
    wdir = _text(record.get("working_dir"), "'working_dir'", PATH_MAX)
    if not os.path.isabs(wdir) or "\0" in wdir:
        raise InvalidRecord("'working_dir' must be an absolute path")
    return record


def _check_times(record: dict[str, Any]) -> None:
    if record.get("created_at") is None and record.get("last_used") is None:
        raise InvalidRecord("missing 'created_at' and 'last_used'")
    if record.get("created_at") is None:
        record["created_at"] = record["last_used"]
    if record.get("last_used") is None:
        record["last_used"] = record["created_at"]
    for key in ("created_at", "last_used"):
        record[key] = _time(record[key], f"'{key}'")


def _check_numbers(record: dict[str, Any], notes: list[str]) -> None:
    turns = record.get("turns")
    if turns is not None and not isinstance(turns, list):
        raise InvalidRecord(f"'turns' must be a list, not {_kind(turns)}")
    record["turns"] = [_check_turn(t, n, notes) for n, t in enumerate(turns or [])]
    if record.get("turn_count") is None:
        record["turn_count"] = len(record["turns"])
    if not _is_int(record["turn_count"], 0, COUNT_MAX):
        raise InvalidRecord(f"'turn_count' must be a whole number from 0 to {COUNT_MAX}")
    if "token_usage" in record:
        record["token_usage"] = check_usage(record["token_usage"] or {}, "'token_usage'")
    cost = record.setdefault("cost_usd", None)
    if cost is not None and (type(cost) not in (int, float) or not math.isfinite(cost)
                             or not 0 <= cost <= COST_MAX):
        raise InvalidRecord(f"'cost_usd' must be null or a number from 0 to {COST_MAX}")
    source = record.setdefault("cost_source", None if cost is None else "reported")
    if source is not None and source not in COST_SOURCES:
        raise InvalidRecord(f"'cost_source' must be null, {' or '.join(map(repr, COST_SOURCES))}")


def _check_origin(record: dict[str, Any]) -> None:
    origin = record.setdefault("origin", "clinvk")
    if origin not in ORIGINS:
        raise InvalidRecord(f"'origin' must be one of {', '.join(map(repr, ORIGINS))}")
    archive = record.setdefault("archive", None)
    if archive is None:
        return
    if not isinstance(archive, dict):
        raise InvalidRecord(f"'archive' must be null or an object, not {_kind(archive)}")
    if not _is_int(archive.get("bytes"), 0, ARCHIVE_BYTES_MAX):
        raise InvalidRecord(f"'archive.bytes' must be a whole number from 0 to {ARCHIVE_BYTES_MAX}")
    digest = archive.get("sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        raise InvalidRecord("'archive.sha256' must be 64 lowercase hex characters")
    record["archive"] = {**archive, "at": _time(archive.get("at"), "'archive.at'")}


def _check_labels(record: dict[str, Any]) -> None:
    tags = record.get("tags")
    if tags is None:
        tags = []
    if not isinstance(tags, list):
        raise InvalidRecord(f"'tags' must be a list of strings, not {_kind(tags)}")
    if len(tags) > TAGS_MAX:
        raise InvalidRecord(f"more than {TAGS_MAX} tags")
    record["tags"] = [_text(tag, "a tag", TAG_MAX) for tag in tags]
    meta = record.get("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise InvalidRecord(f"'metadata' must map strings to strings, not {_kind(meta)}")
    if len(meta) > META_MAX:
        raise InvalidRecord(f"more than {META_MAX} metadata entries")
    for key, value in meta.items():
        _text(key, "a metadata key", META_KEY_MAX)
        _text(value, f"metadata {key[:40]!r}", META_VALUE_MAX, empty=True)
    record["metadata"] = meta
    parent = record.setdefault("parent_id", None)
    if parent is not None and not is_valid_id(parent):
        raise InvalidRecord("'parent_id' must be null or 32 lowercase hex characters")


def check_record(obj: Any, expected_id: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """(the record in schema order with defaults filled in, notes on what was shortened);
    InvalidRecord naming the field and what is wrong with it."""
    record = _check_core(obj, expected_id)
    notes: list[str] = []
    _opt_text(record, "backend_session_id", BACKEND_SESSION_ID_MAX)
    _opt_text(record, "model", MODEL_MAX)
    title = record.get("title")
    if title is not None:
        _text(title, "'title'", None, empty=True)
    record["title"] = title or ""
    _shorten(record, "title", TITLE_MAX, "title", notes)
    status = record.setdefault("status", "active")
    if status not in STATUSES:
        shown = repr(status[:40]) if isinstance(status, str) else _kind(status)
        raise InvalidRecord(f"unknown status {shown}")
    error = record.setdefault("error", None)
    if error is not None:
        _text(error, "'error'", None, empty=True)
        _shorten(record, "error", ERROR_MAX, "error", notes)
    _check_times(record)
    _check_numbers(record, notes)
    _check_labels(record)
    _check_origin(record)
    return ordered(record), notes


def _utf8(value: str) -> bool:
    return _SURROGATE.search(value) is None


def _plain(value: Any, limit: int) -> str | None:
    ok = (isinstance(value, str) and 0 < len(value) <= limit
          and not any(c in _NO_ARGV for c in value) and _utf8(value))
    return value if ok else None


def _free_text(holder: dict[str, Any], key: str) -> None:
    """Free text (a title, a prompt, an error) with lone surrogates replaced by U+FFFD."""
    value = holder.get(key)
    if isinstance(value, str) and not _utf8(value):
        holder[key] = _SURROGATE.sub("\ufffd", value)


def usage_fits(usage: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
    """Whether a turn's normalised usage, alone and added to the record's totals, is what a
    record holds (not so: a backend that reports 10**13 tokens)."""
    totals = record.get("token_usage") or {}
    return all(_is_int(n, 0, TOKENS_MAX) and _is_int(n + int(totals.get(k) or 0), 0, TOKENS_MAX)
               for k, n in usage.items())


def cost_fits(cost: Any, record: Mapping[str, Any]) -> bool:
    """Whether a turn's cost, alone and added to the record's, is what a record holds."""
    return (isinstance(cost, (int, float)) and math.isfinite(cost)
            and 0 <= cost + float(record.get("cost_usd") or 0) <= COST_MAX)


def storable(record: dict[str, Any]) -> dict[str, Any]:
    """The record with what came from a backend's output or a user's flags and check_record
    would refuse left out (an over-long, control-character or non-UTF-8 backend id or model,
    empty, over-long or non-UTF-8 tags and metadata) and lone surrogates in the title, the
    error and the last turn's prompt replaced by U+FFFD, so that a turn is always recorded;
    returns the record."""
    record["backend_session_id"] = _plain(record.get("backend_session_id"), BACKEND_SESSION_ID_MAX)
    record["model"] = _plain(record.get("model"), MODEL_MAX)
    tags = record.get("tags")
    if isinstance(tags, list):
        record["tags"] = [t for t in tags if isinstance(t, str) and 0 < len(t) <= TAG_MAX
                          and _utf8(t)][:TAGS_MAX]
    meta = record.get("metadata")
    if isinstance(meta, dict):
        fits = [(k, v) for k, v in meta.items() if isinstance(k, str) and 0 < len(k) <= META_KEY_MAX
                and isinstance(v, str) and len(v) <= META_VALUE_MAX and _utf8(k) and _utf8(v)]
        record["metadata"] = dict(fits[:META_MAX])
    _free_text(record, "title")
    _free_text(record, "error")
    turns = record.get("turns")
    if isinstance(turns, list) and turns and isinstance(turns[-1], dict):
        _free_text(turns[-1], "prompt")
    return record
