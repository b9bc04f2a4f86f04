"""The session record: a plain JSON dict per SPEC "Session JSON (schema_version 2)"."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from datetime import datetime

from clinvk.clock import format_rfc3339, utc_now
from clinvk.ids import new_id
from clinvk.records import Record
from clinvk.store.migrations import upgrade
from clinvk.store.record_check import (  # noqa: F401  (the schema's names, re-exported)
    FIELD_ORDER,
    NOT_STORED_TITLE,
    PROMPT_MAX,
    SCHEMA_VERSION,
    STATUSES,
    TITLE_MAX,
    InvalidRecord,
    check_record,
    ordered,
)
from clinvk.usage_keys import USAGE_KEYS, empty_usage, normalise_usage

TYPE_CHECKING = False  # typing is not imported at run time (~5 ms while a backend starts)
if TYPE_CHECKING:
    from typing import Any


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def make_title(prompt: str | None) -> str:
    """First non-blank line of the prompt, at most 80 characters."""
    for line in (prompt or "").splitlines():
        line = " ".join(line.split())
        if line:
            return _clip(line, TITLE_MAX)
    return ""


def clip_prompt(prompt: str | None) -> str | None:
    """The prompt as stored in a turn: at most 200 characters."""
    return None if prompt is None else _clip(prompt, PROMPT_MAX)


class NewSession(Record, frozen=True):
    """What a fresh record is made of (new_session's keywords)."""

    backend: str
    working_dir: str | os.PathLike[str]
    model: str | None = None
    title: str | None = None  # else set from the first prompt
    tags: Iterable[str] = ()
    parent_id: str | None = None
    metadata: Mapping[str, str] | None = None
    backend_session_id: str | None = None
    session_id: str | None = None  # else a new id
    now: datetime | None = None
    store_usage: bool = True
    origin: str = "clinvk"  # record_check.ORIGINS

    def record(self) -> dict[str, Any]:
        """The record, with no turns."""
        stamp = format_rfc3339(self.now or utc_now())
        record: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": self.session_id or new_id(),
            "backend": self.backend,
            "origin": self.origin,
            "backend_session_id": self.backend_session_id,
            "model": self.model,
            "working_dir": os.path.abspath(os.fspath(self.working_dir)),
            "title": make_title(self.title) if self.title else "",
            "status": "active",
            "error": None,
            "created_at": stamp,
            "last_used": stamp,
            "turn_count": 0,
            "token_usage": empty_usage(),
            "cost_usd": None,
            "cost_source": None,
            "turns": [],
            "tags": list(dict.fromkeys(self.tags)),
            "parent_id": self.parent_id,
            "metadata": dict(self.metadata or {}),
            "archive": None,
        }
        if not self.store_usage:
            del record["token_usage"]
        return record


def new_session(backend: str, working_dir: str | os.PathLike[str], **fields: Any) -> dict[str, Any]:
    """A fresh record with no turns; fields: NewSession's (model, title, tags, parent_id,
    metadata, backend_session_id, session_id, now, store_usage, origin)."""
    return NewSession(backend, working_dir, **fields).record()


class TurnRecord(Record, frozen=True):
    """One finished turn, as add_turn records it."""

    prompt: str | None
    duration_ms: int
    exit_code: int
    usage: Mapping[str, Any] | None = None  # SPEC's usage keys (usage_keys.USAGE_KEYS)
    cost_usd: float | None = None
    cost_estimated: bool = False  # cost_usd is clinvk's estimate, not the backend's figure
    status: str = "active"
    error: str | None = None
    at: datetime | None = None  # else now


def add_turn(record: dict[str, Any], turn: TurnRecord | None = None, *, store_prompt: bool = True,
             store_usage: bool = True, **fields: Any) -> dict[str, Any]:
    """Append one turn (a TurnRecord, or its fields as keywords) and update totals, status,
    error and last_used; returns the record. The usage is normalised here, once."""
    done = turn if turn is not None else TurnRecord(**fields)
    if done.status not in STATUSES:
        raise ValueError(f"unknown status {done.status!r}")
    stamp = format_rfc3339(done.at or utc_now())
    entry: dict[str, Any] = {
        "at": stamp,
        "prompt": clip_prompt(done.prompt) if store_prompt else None,
        "duration_ms": max(0, int(done.duration_ms)),
        "exit_code": int(done.exit_code),
    }
    if not record.get("title"):
        record["title"] = make_title(done.prompt) if store_prompt else NOT_STORED_TITLE
    if store_usage:
        norm = normalise_usage(done.usage)
        entry["usage"] = norm
        totals = record.get("token_usage") or empty_usage()
        if norm:
            totals = {key: int(totals.get(key) or 0) + norm[key] for key in USAGE_KEYS}
        record["token_usage"] = totals
    else:
        record.pop("token_usage", None)
    record.setdefault("turns", []).append(entry)
    record["turn_count"] = int(record.get("turn_count") or 0) + 1
    _add_cost(record, done)
    record["status"] = done.status
    record["error"] = done.error
    record["last_used"] = stamp
    return record


def _add_cost(record: dict[str, Any], done: TurnRecord) -> None:
    """Add the turn's cost to the session's: the sum is "estimated" as soon as any part of it
    is (a claude session with headless and interactive turns), else "reported"."""
    cost = done.cost_usd
    if cost is None or not math.isfinite(cost) or cost < 0:
        return
    known = record.get("cost_usd") is not None
    record["cost_usd"] = round(float(record.get("cost_usd") or 0.0) + float(cost), 10)
    estimated = done.cost_estimated or (known and record.get("cost_source") == "estimated")
    record["cost_source"] = "estimated" if estimated else "reported"


def load(obj: Any, expected_id: str | None = None) -> dict[str, Any]:
    """A record read from a file: brought up to this schema_version by the migration chain
    (store/migrations.py), then checked as validate_record; NewerRecord (an InvalidRecord)
    when a newer clinvk wrote it."""
    return validate_record(upgrade(obj), expected_id)


def validate_record(obj: Any, expected_id: str | None = None) -> dict[str, Any]:
    """Check a loaded record; return a copy with defaults filled in, or raise InvalidRecord
    (the checks are clinvk.store.record_check's, the one definition of a valid record)."""
    return check_record(obj, expected_id)[0]
