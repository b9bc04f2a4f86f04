"""UTC time helpers: the one RFC 3339 format used in session files."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    """The current time as an aware UTC datetime, whole seconds."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def as_utc(dt: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC already."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def format_rfc3339(dt: datetime) -> str:
    """'2026-11-22T23:10:00Z' (UTC, whole seconds)."""
    u = as_utc(dt)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp into an aware UTC datetime; ValueError if bad."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if len(text) < 10 or len(text) > 40 or not text.isascii():
        raise ValueError(f"not an RFC 3339 timestamp: {value!r}")
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    if len(text) > 10 and text[10] in "tT ":
        text = text[:10] + "T" + text[11:]
    try:
        return as_utc(datetime.fromisoformat(text))
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the last date there is in UTC
        raise ValueError(f"timestamp out of range: {value!r}") from None


def time_or_none(value: object) -> datetime | None:
    """A datetime as is, an RFC 3339 string parsed; None for anything else or a bad string."""
    if isinstance(value, datetime):
        return value
    try:
        return parse_rfc3339(value) if isinstance(value, str) and value else None
    except ValueError:
        return None
